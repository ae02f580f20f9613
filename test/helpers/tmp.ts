import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh temporary directory; `cleanup()` removes it. */
export async function tmpDir(tag = 'dht2-test'): Promise<{ path: string; cleanup(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `${tag}-`));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

export const SECRET = 'test-cluster-secret-0123456789';
