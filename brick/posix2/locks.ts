/**
 * In-process locks keyed by GFID. Entry operations on one directory are serialized on the brick
 * (ARCHITECTURE.md §3: concurrency on one name is settled on the MDS that owns the parent), and
 * inode read-modify-writes (nlink, attributes) are serialized per inode.
 */
export class KeyedLocks {
  private readonly tails = new Map<string, Promise<void>>();

  private async acquire(key: string): Promise<() => void> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => { release = resolve; });
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    await prev;
    return () => {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    };
  }

  /** Runs `fn` holding every key; keys are taken in sorted order so two callers never deadlock. */
  async with<T>(keys: readonly string[], fn: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort();
    const releases: Array<() => void> = [];
    try {
      for (const k of sorted) releases.push(await this.acquire(k));
      return await fn();
    } finally {
      for (const r of releases.reverse()) r();
    }
  }

  /** Number of keys currently held or awaited (for tests and metrics). */
  get size(): number {
    return this.tails.size;
  }
}
