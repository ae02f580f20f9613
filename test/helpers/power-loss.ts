/**
 * Power loss for in-process brick stores, as CrashMonkey and ALICE test file systems: keep the
 * image of what each fsync made durable, and after a cut rebuild the brick directory from that
 * image alone, so every write that no fsync covered is gone.
 *
 * The model (POSIX's promise, stricter than ext4's ordered mode, which is the point):
 *  - fsync of a file makes its bytes and xattrs durable;
 *  - fsync of a directory makes its entries (name -> inode) and its xattrs durable;
 *  - nothing else is durable: a name whose directory was not fsynced since is lost, a file no
 *    fsync covered comes back empty, a directory no fsync covered comes back empty.
 * Inodes are told apart by (inode number, birth time), so a freed and reused inode number is a
 * new inode. The name index (SQLite, `.dht2/names.sqlite`) fsyncs every commit itself
 * (synchronous=FULL): its files are taken as they are at the cut. The lock file is left out.
 *
 * The brick stores report every fsync through brick/posix2/fsutil.ts `observeFsyncs`.
 */
import {
  existsSync, linkSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync, chmodSync,
} from 'node:fs';
import { join, relative, sep } from 'node:path';
import { getAttributeSync, listAttributesSync, setAttributeSync } from '@napi-rs/xattr';

type Key = string;

interface Entry { key: Key; kind: 'file' | 'dir' | 'symlink'; target?: string }

interface InodeImage {
  kind: 'file' | 'dir';
  mode: number;
  xattrs: Array<[string, Buffer]>;
  data?: Buffer;
  entries?: Map<string, Entry>;
}

/** Files of the brick directory that are not part of the modelled tree (see the module comment). */
const SPECIAL = new Set(['.dht2/lock', '.dht2/names.sqlite', '.dht2/names.sqlite-wal', '.dht2/names.sqlite-shm']);

function keyOf(path: string): Key {
  const st = lstatSync(path, { bigint: true });
  return `${st.ino}:${st.birthtimeNs}`;
}

function xattrsOf(path: string): Array<[string, Buffer]> {
  return listAttributesSync(path).filter((n) => n.startsWith('user.')).sort().map((n) => [n, getAttributeSync(path, n)!]);
}

/** The durable image of one brick directory, kept up to date by the fsyncs the store reports. */
export class DurableImage {
  private readonly inodes = new Map<Key, InodeImage>();
  private rootKey: Key;
  /** SQLite files as they were at the cut (the index fsyncs its own commits). */
  private sqlite = new Map<string, Buffer>();

  /** Takes the whole directory as durable: the state a run starts from. */
  constructor(readonly dir: string) {
    this.rootKey = keyOf(dir);
    this.walk(dir);
  }

  /** True when `path` lies in this brick directory. */
  holds(path: string): boolean {
    return path === this.dir || path.startsWith(this.dir + sep);
  }

  private special(path: string): boolean {
    return SPECIAL.has(relative(this.dir, path));
  }

  private walk(path: string): void {
    const st = lstatSync(path);
    if (st.isDirectory()) {
      this.synced(path);
      for (const name of readdirSync(path)) {
        const child = join(path, name);
        if (!this.special(child) && !lstatSync(child).isSymbolicLink()) this.walk(child);
      }
    } else if (st.isFile()) {
      this.synced(path);
    }
  }

  /** An fsync of `path` completed: what it covers is now durable. */
  synced(path: string): void {
    if (this.special(path) || !existsSync(path)) return;
    const st = lstatSync(path);
    const key = keyOf(path);
    if (st.isDirectory()) {
      const entries = new Map<string, Entry>();
      for (const name of readdirSync(path)) {
        const child = join(path, name);
        if (this.special(child)) continue;
        const cs = lstatSync(child);
        const kind = cs.isDirectory() ? 'dir' : cs.isSymbolicLink() ? 'symlink' : 'file';
        entries.set(name, { key: keyOf(child), kind, target: kind === 'symlink' ? readlinkSync(child) : undefined });
      }
      this.inodes.set(key, { kind: 'dir', mode: st.mode & 0o7777, xattrs: xattrsOf(path), entries });
    } else if (st.isFile()) {
      this.inodes.set(key, { kind: 'file', mode: st.mode & 0o7777, xattrs: xattrsOf(path), data: readFileSync(path) });
    }
  }

  /** The power goes: the name index is taken as it is now (its commits were fsynced). */
  cut(): void {
    this.sqlite = new Map();
    for (const f of SPECIAL) {
      const p = join(this.dir, f);
      if (f !== '.dht2/lock' && existsSync(p)) this.sqlite.set(f, readFileSync(p));
    }
  }

  /** Replaces the brick directory with what survived the cut. */
  restore(): void {
    rmSync(this.dir, { recursive: true, force: true });
    const linked = new Map<Key, string>();
    const make = (path: string, key: Key, kind: 'file' | 'dir'): void => {
      const img = this.inodes.get(key);
      if (kind === 'dir') {
        mkdirSync(path, { mode: 0o700 });
        if (!img || img.kind !== 'dir') return; // never fsynced: comes back empty
        for (const [n, v] of img.xattrs) setAttributeSync(path, n, v);
        for (const [name, e] of img.entries!) {
          const child = join(path, name);
          if (e.kind === 'symlink') symlinkSync(e.target!, child);
          else make(child, e.key, e.kind);
        }
        chmodSync(path, img.mode);
        return;
      }
      const first = linked.get(key);
      if (first !== undefined) {
        linkSync(first, path); // a hard link: one inode under two names
        return;
      }
      linked.set(key, path);
      writeFileSync(path, img?.kind === 'file' ? img.data! : Buffer.alloc(0), { mode: 0o600 });
      if (img?.kind === 'file') {
        for (const [n, v] of img.xattrs) setAttributeSync(path, n, v);
        chmodSync(path, img.mode);
      }
    };
    make(this.dir, this.rootKey, 'dir');
    mkdirSync(join(this.dir, '.dht2'), { recursive: true, mode: 0o700 });
    for (const [f, data] of this.sqlite) writeFileSync(join(this.dir, f), data);
  }
}
