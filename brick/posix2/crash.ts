/**
 * Crash points for the crash-safety tests: when DHT2_CRASH_AT names a point, the brick kills
 * itself with SIGKILL there, exactly like a power cut between two steps of a FOP. Costs one
 * string compare when unset.
 */
const crashAt = process.env.DHT2_CRASH_AT ?? '';

export function crashPoint(label: string): void {
  if (crashAt !== '' && crashAt === label) process.kill(process.pid, 'SIGKILL');
}
