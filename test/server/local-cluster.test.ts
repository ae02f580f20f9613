/**
 * `dht2 local` (what `npm start` runs) as a user starts it: the banner with the endpoint and
 * credentials, the README's aws-cli and curl examples against it, a brick that dies being
 * restarted, data kept across a restart, and SIGTERM stopping every child. Then the README's
 * section "The file API in curl", every command run as written, in one shell, with the real
 * curl, its output compared with the `#` lines under it.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { once } from 'node:events';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DHT2_BIN } from '../../brick/spawn.js';
import { running, runningWithArgs } from '../helpers/proc.js';
import { tmpDir } from '../helpers/tmp.js';

const run = promisify(execFile);

/** Spawns `dht2 local` on these ports and data folder; `out()` is all it printed so far. */
function spawnLocal(dataDir: string, port: number, brickBase: number): { child: ChildProcess; out: () => string } {
  const child = spawn(process.execPath, [DHT2_BIN, 'local'], {
    env: { ...process.env, DHT2_DATA_DIR: dataDir, DHT2_PORT: String(port), DHT2_BRICK_PORT_BASE: String(brickBase), DHT2_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  return { child, out: () => out };
}

/** Starts `dht2 local` and resolves once its banner says it is ready. */
async function startLocal(dataDir: string, port: number, brickBase: number): Promise<{ child: ChildProcess; out: () => string }> {
  const { child, out } = spawnLocal(dataDir, port, brickBase);
  await new Promise<void>((resolve, reject) => {
    const t = setInterval(() => { if (out().includes('DHT2 Gateway is ready')) { clearInterval(t); resolve(); } }, 100);
    child.once('exit', (c) => { clearInterval(t); reject(new Error(`dht2 local exited ${c}: ${out()}`)); });
  });
  return { child, out };
}

/** Pids of every brick process the cluster started, from its 'brick started' log lines. */
function brickPids(out: string): number[] {
  return [...out.matchAll(/\{[^\n]*"msg":"brick started"[^\n]*\}/g)].map((m) => (JSON.parse(m[0]) as { pid: number }).pid);
}

const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

/** One command of the README's file-API section: its text, the `#` lines under it, its line. */
interface Example {
  command: string;
  output: string[];
  line: number;
}

const BEGIN = '<!-- file-api-examples:begin -->';
const END = '<!-- file-api-examples:end -->';

/** The commands of the `sh` blocks between the markers; a `#` line right under a command is its output. */
function readmeExamples(readme: string): Example[] {
  const begin = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  assert.ok(begin >= 0 && end > begin, `README.md has no ${BEGIN} ... ${END} section`);
  const lines = readme.slice(0, end).split('\n');
  const examples: Example[] = [];
  let inSh = false;
  let last: 'command' | 'output' | 'other' = 'other';
  for (let i = readme.slice(0, begin).split('\n').length; i < lines.length; i++) {
    const l = lines[i]!;
    if (l.startsWith('```')) {
      inSh = !inSh && l === '```sh';
      last = 'other';
    } else if (!inSh) {
      continue;
    } else if (l.startsWith('#')) {
      assert.ok(last !== 'other', `README.md:${i + 1}: a # line that is not under a command`);
      examples.at(-1)!.output.push(l.replace(/^# ?/, ''));
      last = 'output';
    } else if (last === 'command' && examples.at(-1)!.command.endsWith('\\')) {
      examples.at(-1)!.command += `\n${l}`;
    } else if (l.trim() !== '') {
      examples.push({ command: l, output: [], line: i + 1 });
      last = 'command';
    }
  }
  return examples;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** True when `actual` is the `#` lines, `…` standing for anything (a `…` line: any number of lines). */
function outputMatches(actual: string, expected: string[]): boolean {
  let re = '';
  expected.forEach((l, i) => {
    const lastLine = i === expected.length - 1;
    if (l === '…') re += lastLine ? '[^]*' : '(?:[^]*?\\n)?';
    else re += l.split('…').map(escapeRe).join('[^]*?') + (lastLine ? '' : '\\n');
  });
  return new RegExp(`^${re}$`).test(actual);
}

/** Runs each command in one bash, in order (exports and files carry over); stdout, stderr, exit status of each. */
async function runInOneShell(commands: string[], cwd: string): Promise<Array<{ stdout: string; stderr: string; status: number }>> {
  const sh = spawn('bash', ['--noprofile', '--norc'], { cwd, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd, LANG: 'C.UTF-8' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  sh.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  sh.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  const results: Array<{ stdout: string; stderr: string; status: number }> = [];
  try {
    for (const command of commands) {
      out = '';
      err = '';
      sh.stdin!.write(`${command}\n__s=$?; printf '\\n@@done %d\\n' "$__s"; printf '\\n@@done\\n' >&2\n`);
      for (let i = 0; i < 1200 && !(/\n@@done \d+\n$/.test(out) && err.endsWith('\n@@done\n')); i++) await new Promise((r) => setTimeout(r, 50));
      const m = /\n@@done (\d+)\n$/.exec(out);
      assert.ok(m, `no end of: ${command}\nstdout: ${out}\nstderr: ${err}`);
      results.push({ stdout: out.slice(0, m.index).replaceAll('\r', '').replace(/\n+$/, ''), stderr: err.replace(/\n@@done\n$/, ''), status: Number(m[1]) });
    }
  } finally {
    sh.stdin!.end();
    if (sh.exitCode === null) await once(sh, 'exit');
  }
  return results;
}

describe('dht2 local (npm start)', function () {
  this.timeout(180_000);
  let tmp: Awaited<ReturnType<typeof tmpDir>>;
  before(async () => { tmp = await tmpDir('local'); });
  after(async () => { await tmp.cleanup(); });

  it('prints endpoint and credentials, serves the README examples, restarts a dead brick, keeps data, stops cleanly', async () => {
    const port = 20000 + Math.floor(Math.random() * 8000);
    const data = join(tmp.path, 'data');
    const first = await startLocal(data, port, port + 1);
    const url = `http://127.0.0.1:${port}`;
    assert.match(first.out(), new RegExp(`DHT2 Gateway is ready: ${url}`));
    assert.match(first.out(), /access key: dht2admin/);
    assert.match(first.out(), /aws --endpoint-url http:\/\/127\.0\.0\.1:\d+ s3 mb s3:\/\/demo/);
    const env = { ...process.env, AWS_ACCESS_KEY_ID: 'dht2admin', AWS_SECRET_ACCESS_KEY: 'dht2admin-secret', AWS_DEFAULT_REGION: 'us-east-1', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' };
    const aws = (...a: string[]) => run('aws', ['--endpoint-url', url, ...a], { env }).then((r) => r.stdout);
    const curl = (...a: string[]) => run('curl', ['-sS', '-f', '-u', 'dht2admin:dht2admin-secret', ...a]).then((r) => r.stdout);
    // The README's "Try it" commands.
    const readme = join(tmp.path, 'README.md');
    await writeFile(readme, await readFile(new URL('../../../README.md', import.meta.url)));
    await aws('s3', 'mb', 's3://demo');
    await aws('s3', 'cp', readme, 's3://demo/docs/README.md');
    assert.match(await aws('s3', 'ls', '--recursive', 's3://demo/'), /docs\/README\.md/);
    assert.equal(await curl(`${url}/fs/demo/docs/README.md`), await readFile(readme, 'utf8'));
    const notes = join(tmp.path, 'notes.txt');
    await writeFile(notes, 'today');
    await curl('-T', notes, `${url}/fs/demo/notes/today.txt?parents=1`);
    assert.match(await curl(`${url}/fs/demo/?detail=1`), /"name":"notes"/);
    assert.match(await run('curl', ['-sS', `${url}/-/ready`]).then((r) => r.stdout), /"status":"ready"/);
    // A brick that dies is reported and restarted.
    const pids = brickPids(first.out());
    assert.equal(pids.length, 5);
    process.kill(pids[3]!, 'SIGKILL');
    for (let i = 0; i < 100 && !/brick died; restarting/.test(first.out()); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(first.out(), /brick died; restarting/);
    for (let i = 0; i < 100 && brickPids(first.out()).length < 6; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(brickPids(first.out()).length, 6, 'a new brick process started');
    assert.equal(await curl(`${url}/fs/demo/notes/today.txt`), 'today');
    // SIGTERM stops the gateway and every brick.
    const all = brickPids(first.out());
    first.child.kill('SIGTERM');
    await new Promise((r) => first.child.once('exit', r));
    for (let i = 0; i < 50 && all.some(alive); i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(all.filter(alive), [], 'every brick stopped');
    // A second start on the same folder serves the same data.
    const second = await startLocal(data, port, port + 1);
    try {
      assert.equal(await curl(`${url}/fs/demo/notes/today.txt`), 'today');
      assert.match(await aws('s3', 'ls', 's3://demo/docs/'), /README\.md/);
    } finally {
      second.child.kill('SIGTERM');
      await new Promise((r) => second.child.once('exit', r));
    }
  });

  it('issue 13: kill -9 of dht2 local takes its bricks with it, and a start right after serves the same data', async () => {
    const port = 20000 + Math.floor(Math.random() * 8000);
    const url = `http://127.0.0.1:${port}`;
    const data = join(tmp.path, 'killed');
    const curl = (...a: string[]) => run('curl', ['-sS', '-f', '-u', 'dht2admin:dht2admin-secret', ...a]).then((r) => r.stdout);
    const first = await startLocal(data, port, port + 1);
    const pids = brickPids(first.out());
    assert.equal(pids.length, 5);
    const note = join(tmp.path, 'killed-note.txt');
    await writeFile(note, 'before the kill');
    await curl('-X', 'PUT', `${url}/fs/kept?mkdir=1`);
    await curl('-T', note, `${url}/fs/kept/note.txt`);
    first.child.kill('SIGKILL');
    await once(first.child, 'exit');
    // Started at once, racing the dying bricks for their locks and ports.
    const starting = startLocal(data, port, port + 1);
    try {
      for (let i = 0; i < 50 && pids.some(running); i++) await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(pids.filter(running), [], 'no brick outlives its supervisor');
      await starting;
      assert.equal(await curl(`${url}/fs/kept/note.txt`), 'before the kill');
    } finally {
      // Nothing of a failed run is left behind: neither the orphans nor the second cluster.
      for (const pid of pids.filter(running)) process.kill(pid, 'SIGKILL');
      const second = await starting.catch(() => undefined);
      if (second) {
        second.child.kill('SIGTERM');
        await once(second.child, 'exit');
      }
    }
  });

  /** Runs `dht2 local` to its end (it is expected to fail); exit code, output, and the bricks still running at that moment. */
  async function failedStart(dataDir: string, port: number, brickBase: number): Promise<{ code: number | null; out: string; left: number[] }> {
    const { child, out: printed } = spawnLocal(dataDir, port, brickBase);
    const [code] = await once(child, 'exit') as [number | null];
    // At the very moment it exited: a brick still running now has lost its supervisor (PPID 1).
    const left = runningWithArgs(`brick --dir ${dataDir}/`);
    return { code, out: printed(), left };
  }

  /** Holds a TCP port on 127.0.0.1, as another program would. */
  async function occupy(port: number): Promise<Server> {
    const s = createServer();
    await new Promise<void>((resolve, reject) => { s.once('error', reject); s.listen(port, '127.0.0.1', resolve); });
    return s;
  }

  it('a start whose gateway port is taken stops every brick it started and exits non-zero with a clear message', async () => {
    const port = 20000 + Math.floor(Math.random() * 8000);
    const held = await occupy(port);
    try {
      const data = join(tmp.path, 'gateway-port-taken');
      const r = await failedStart(data, port, port + 1);
      assert.notEqual(r.code, 0, r.out);
      assert.equal(brickPids(r.out).length, 5, `the bricks started before the gateway: ${r.out}`);
      assert.deepEqual(r.left, [], `bricks left running: ${r.left.join(', ')}`);
      assert.match(r.out, new RegExp(`dht2: EIO: the local cluster did not start: the gateway cannot listen on 127\\.0\\.0\\.1:${port}: the address is already in use`));
      assert.match(r.out, /every brick it started was stopped/);
      assert.doesNotMatch(r.out, /^\s+at /m, 'a message, not a stack trace');
    } finally {
      held.close();
    }
  });

  it('a start where one brick cannot start stops every other brick, started or starting, and exits non-zero naming it', async () => {
    const port = 20000 + Math.floor(Math.random() * 8000);
    // The port of ds1 (mds0, mds1, ds0, ds1, ds2 take brickBase..brickBase+4).
    const held = await occupy(port + 4);
    try {
      const data = join(tmp.path, 'brick-port-taken');
      const r = await failedStart(data, port, port + 1);
      assert.notEqual(r.code, 0, r.out);
      assert.deepEqual(r.left, [], `bricks left running: ${r.left.join(', ')}`);
      assert.match(r.out, new RegExp(`dht2: EIO: the local cluster did not start: brick ds1 .*cannot listen on 127\\.0\\.0\\.1:${port + 4}: the address is already in use`));
      assert.match(r.out, /every brick it started was stopped/);
      assert.doesNotMatch(r.out, /^\s+at /m, 'a message, not a stack trace');
      assert.doesNotMatch(r.out, /DHT2 Gateway is ready/);
    } finally {
      held.close();
    }
  });

  it('runs every command of the README\'s "The file API in curl" as written: exit 0, the output the README shows', async () => {
    const examples = readmeExamples(await readFile(new URL('../../../README.md', import.meta.url), 'utf8'));
    // One command per operation of the file API at least: a section that lost one fails.
    const operations = ['mkdir=1', '-T ', 'parents=1', 'create-only=1', "-H 'Range: ", '-I ', 'stat=1', 'limit=', 'cursor=', 'detail=1', 'recursive=1',
      '-X PATCH', 'offset=', 'append=1', 'truncate=', '-F ', 'op=rename', 'op=copy', 'op=link', 'op=symlink', 'op=chmod', 'op=utimes',
      '-X PUT --data-binary', 'xattr=', 'xattrs=1', 'statfs=1', '-X DELETE', '--aws-sigv4'];
    assert.deepEqual(operations.filter((op) => !examples.some((e) => e.command.startsWith('curl ') && e.command.includes(op))), []);
    const port = 20000 + Math.floor(Math.random() * 8000);
    const cwd = join(tmp.path, 'readme');
    await mkdir(cwd);
    const local = await startLocal(join(cwd, 'data'), port, port + 1);
    try {
      // The README speaks of the default endpoint; this cluster is on another port.
      const results = await runInOneShell(examples.map((e) => e.command.replaceAll('http://127.0.0.1:9000', `http://127.0.0.1:${port}`)), cwd);
      const wrong = examples.flatMap((e, i) => {
        const r = results[i]!;
        if (r.status === 0 && outputMatches(r.stdout, e.output)) return [];
        return [`README.md:${e.line}: ${e.command}\n  exit ${r.status}\n  expected:\n    ${e.output.join('\n    ')}\n  got:\n    ${r.stdout.split('\n').join('\n    ')}\n  stderr: ${r.stderr.split(/[\r\n]/).filter((l) => !/^\s*(% Total|Dload|\d+\s+\d+\s+\d+)/.test(l) && l.trim() !== '').join('\n').slice(-500)}`];
      });
      assert.deepEqual(wrong, []);
    } finally {
      local.child.kill('SIGTERM');
      await once(local.child, 'exit');
    }
  });
});
