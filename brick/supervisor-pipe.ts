/**
 * Bricks must not outlive the process that started them (issue 13): `dht2 local`, a test run or
 * a benchmark killed with SIGKILL used to leave its bricks running, holding their directories
 * and ports. Linux's parent-death signal (PR_SET_PDEATHSIG) is not reachable from Node, so the
 * supervisor hands each brick one end of a pipe that it never writes to: when the supervisor
 * dies, however it dies, the kernel closes its end and the brick reads EOF.
 *
 * A brick started by hand or by a container runtime has no such pipe and never watches one.
 */
import { Socket } from 'node:net';

/** The brick's file descriptor for the pipe from its supervisor (spawnBrick's stdio[3]). */
export const SUPERVISOR_FD = 3;

/**
 * How long a brick whose supervisor is gone may take to close (store, lock) before it exits
 * anyway: one stuck on I/O must not keep its port and directory from the next start.
 */
export const ORPHAN_GRACE_MS = 2000;

/**
 * Calls `onGone` once when the pipe on `fd` reaches EOF or fails: the supervisor is gone.
 * The watch does not keep the process alive by itself.
 */
export function watchSupervisorPipe(fd: number, onGone: () => void): void {
  const pipe = new Socket({ fd, readable: true, writable: false });
  let gone = false;
  const fire = (): void => {
    if (gone) return;
    gone = true;
    pipe.destroy();
    onGone();
  };
  // Nothing is ever written; reading is what lets libuv see the EOF.
  pipe.on('data', () => undefined).on('end', fire).on('close', fire).on('error', fire);
  pipe.unref();
}
