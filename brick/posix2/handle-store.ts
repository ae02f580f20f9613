/**
 * What the MDS and DS stores (mds-base.ts, ds.ts) are both built on: the brick directory, the
 * handle path of a GFID, the handle directories made on demand, and an fsync that is skipped
 * when the brick runs without sync.
 */
import { HandleDirs, fsyncPath } from './fsutil.js';
import { handlePath } from './handles.js';

export class HandleStore {
  protected readonly handleDirs: HandleDirs;

  constructor(
    protected readonly dir: string,
    protected readonly sync: boolean,
  ) {
    this.handleDirs = new HandleDirs(sync);
  }

  protected h(gfid: string): string {
    return handlePath(this.dir, gfid);
  }

  protected async fsync(path: string): Promise<void> {
    if (this.sync) await fsyncPath(path);
  }
}
