/** What /proc says about a process: the tests need "gone" to include zombies nobody reaped. */
import { readdirSync, readFileSync } from 'node:fs';

/** The state letter of /proc/PID/stat (R, S, D, Z, X…), or undefined when there is no such process. */
export function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces or ')': the state follows the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2)[0];
  } catch {
    return undefined;
  }
}

/** True while the process runs: not gone, not a zombie (Z) or dead (X) waiting to be reaped. */
export function running(pid: number): boolean {
  const s = procState(pid);
  return s !== undefined && s !== 'Z' && s !== 'X';
}

/** Pids of the running processes whose command line (arguments joined by spaces) contains `text`. */
export function runningWithArgs(text: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue;   // gone while we looked
    }
    if (cmdline.includes(text) && running(Number(name))) pids.push(Number(name));
  }
  return pids;
}
