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

/** A conflict key's mode (ARCHITECTURE.md §10.5): S shared, X exclusive. */
export type KeyMode = 'S' | 'X';

interface RwState {
  readers: number;
  writer: boolean;
  queue: Array<{ mode: KeyMode; grant: () => void }>;
}

/**
 * Shared/exclusive locks keyed by string, granted in arrival order per key (a waiting X is not
 * overtaken by later S requests, so writers do not starve). Keys are taken in sorted order, as
 * KeyedLocks does, so two callers never deadlock.
 */
export class KeyedRwLocks {
  private readonly keys = new Map<string, RwState>();

  private grantable(st: RwState, mode: KeyMode): boolean {
    return mode === 'S' ? !st.writer : !st.writer && st.readers === 0;
  }

  private take(st: RwState, mode: KeyMode): void {
    if (mode === 'S') st.readers++;
    else st.writer = true;
  }

  private acquire(key: string, mode: KeyMode): Promise<() => void> {
    let st = this.keys.get(key);
    if (!st) {
      st = { readers: 0, writer: false, queue: [] };
      this.keys.set(key, st);
    }
    const s = st;
    const release = (): void => {
      if (mode === 'S') s.readers--;
      else s.writer = false;
      while (s.queue.length > 0 && this.grantable(s, s.queue[0]!.mode)) {
        const next = s.queue.shift()!;
        this.take(s, next.mode);
        next.grant();
      }
      if (!s.writer && s.readers === 0 && s.queue.length === 0) this.keys.delete(key);
    };
    if (s.queue.length === 0 && this.grantable(s, mode)) {
      this.take(s, mode);
      return Promise.resolve(release);
    }
    return new Promise((resolve) => s.queue.push({ mode, grant: () => resolve(release) }));
  }

  /** Runs `fn` holding every key in its mode (a key named twice is taken once, X if either is). */
  async with<T>(keys: ReadonlyMap<string, KeyMode>, fn: () => Promise<T>): Promise<T> {
    const releases: Array<() => void> = [];
    try {
      for (const k of [...keys.keys()].sort()) releases.push(await this.acquire(k, keys.get(k)!));
      return await fn();
    } finally {
      for (const r of releases.reverse()) r();
    }
  }

  /** Keys currently held or awaited (for tests). */
  get size(): number {
    return this.keys.size;
  }
}
