import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh temporary directory; `cleanup()` removes it. */
export async function tmpDir(tag = 'dht2-test'): Promise<{ path: string; cleanup(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `${tag}-`));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/** The cluster secret of the test volumes: 32+ bytes, as a new volume needs (dht2-core/protocol/cluster-secret.ts). */
export const SECRET = 'test-cluster-secret-0123456789abcdef';
