/** boto3 (the AWS SDK for Python) as an independent client in tests, where python3 has it. */
import { execFile, execFileSync } from 'node:child_process';

/** Whether `python3 -c 'import boto3'` works here. */
export const hasBoto3 = ((): boolean => {
  try {
    execFileSync('python3', ['-c', 'import boto3'], { stdio: 'ignore', timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
})();

/** Runs a python3 script with one JSON argument (sys.argv[1]) and parses the JSON it prints; no AWS config files are read. */
export function runBoto3<T>(script: string, arg: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile('python3', ['-c', script, JSON.stringify(arg)], { encoding: 'utf8', timeout: 90_000, env: { ...process.env, AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`boto3 script failed: ${stderr}`));
      else resolve(JSON.parse(stdout) as T);
    });
  });
}
