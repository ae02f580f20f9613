/**
 * The one FOP vocabulary of DHT2 Gateway, declared once and shared by the brick (which serves
 * it), the RPC client (which speaks it) and any layer in between, like GlusterFS's
 * `struct xlator_fops` (see ../shared/design/STYLE.md §2). Each entry names its kind
 * (control: JSON in, JSON out; upload: JSON args + streamed body in; download: streamed body
 * out), the brick role that serves it, and zod schemas from which the TypeScript types and the
 * run-time validation both derive. docs/PROTOCOL.md describes the wire form.
 */
import { z } from 'zod';
import { checkGfid, checkName } from './gfid.js';
import { Dht2Error } from './errors.js';
import { LayoutDocSchema } from './layout-doc.js';

/**
 * Wire protocol version; a brick refuses requests of any other major version. 2: the
 * signature covers the brick's boot epoch, and upload bodies carry a MAC trailer (issue 14). 3: the
 * operation id, layout epoch and sender are signed (issue 16). 4: the body MAC covers the body's
 * SHA-256, so a body sent to several bricks is hashed once (PROTOCOL.md §3.1).
 */
export const PROTOCOL_VERSION = 4;

/** Zod refinement that reports our own errno (EINVAL/ENAMETOOLONG) in its message. */
function checked(check: (v: unknown) => string) {
  return z.string().check((ctx) => {
    try {
      check(ctx.value);
    } catch (e) {
      ctx.issues.push({ code: 'custom', message: e instanceof Dht2Error ? e.message : String(e), input: ctx.value });
    }
  });
}

export const Gfid = checked(checkGfid);
export const Name = checked(checkName);
export const InodeType = z.enum(['file', 'dir', 'symlink']);
export type InodeType = z.infer<typeof InodeType>;

const u32 = z.number().int().min(0).max(0xffffffff);
const offset = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const timeMs = z.number().finite();
/** Xattr names are the caller's (`user.*` style), kept apart from the brick's own keys. */
const XattrName = z.string().min(1).max(255).refine((s) => !s.includes('\0'), 'NUL in xattr name');
/** Xattr values travel as base64; 64 KiB decoded at most, as the Linux VFS allows. */
const XattrValue = z.base64().max(Math.ceil((64 * 1024) / 3) * 4);

/** Inode attributes as the MDS keeps them ("Size on MDS": size is the cached data size). */
export const Attrs = z.object({
  gfid: Gfid,
  type: InodeType,
  mode: u32,
  uid: u32,
  gid: u32,
  nlink: u32,
  size: offset,
  atimeMs: timeMs,
  mtimeMs: timeMs,
  ctimeMs: timeMs,
  btimeMs: timeMs,
  /** Symlink target (symlinks only). */
  target: z.string().optional(),
  /** Directories only: the GFID of the parent directory (for `..` and rename loop checks). */
  parent: Gfid.optional(),
  /**
   * Directories only: the file inode of the object stored at the directory's own name, so S3
   * keys `a` and `a/b` coexist (docs/ARCHITECTURE.md "A directory that carries an object").
   */
  obj: Gfid.optional(),
  /** Xattrs asked for with `want` (present ones only), so a HEAD needs no second round trip. */
  xattrs: z.record(z.string(), z.string()).optional(),
});
export type Attrs = z.infer<typeof Attrs>;

/** Attribute changes of setattr; `size` updates the cached size only (data lives on a DS). */
export const SetAttrs = z.object({
  mode: u32.optional(),
  uid: u32.optional(),
  gid: u32.optional(),
  size: offset.optional(),
  /** Files: raise the cached size to at least this; appends that finish out of order never shrink it. */
  sizeAtLeast: offset.optional(),
  atimeMs: timeMs.optional(),
  mtimeMs: timeMs.optional(),
  /** Directories only: new parent after a rename across directories. */
  parent: Gfid.optional(),
  /** Files and symlinks: link count, set by fsck to the number of names found. */
  nlink: u32.min(1).optional(),
});
export type SetAttrs = z.infer<typeof SetAttrs>;

const NewInode = {
  gfid: Gfid,
  type: InodeType,
  mode: u32.optional(),
  uid: u32.optional(),
  gid: u32.optional(),
  target: z.string().min(1).max(4095).refine((s) => !s.includes('\0'), 'NUL in symlink target').optional(),
  /** Xattrs set with the inode, atomically (object metadata of an S3 PUT). */
  xattrs: z.record(XattrName, XattrValue).optional(),
  /** Cached data size ("Size on MDS") of a file whose data was written before its inode. */
  size: offset.optional(),
  mtimeMs: timeMs.optional(),
  /** Directories: the parent directory's GFID. */
  parent: Gfid.optional(),
  /** Directories: the file inode of the object the directory carries (see Attrs.obj). */
  obj: Gfid.optional(),
};

export const DirEntry = z.object({
  name: z.string(),
  gfid: Gfid,
  type: InodeType,
  /** readdirp only: the inode's attributes when the inode lives on this MDS. */
  attrs: Attrs.optional(),
});
export type DirEntry = z.infer<typeof DirEntry>;

/** What became of the inode behind a removed or replaced name. */
export const InodeFate = z.object({
  gfid: Gfid,
  type: InodeType,
  /** deleted: last link gone, its data object may go; linked: other names remain; remote: the inode lives on another MDS (call iunlink there). */
  inode: z.enum(['deleted', 'linked', 'remote']),
});
export type InodeFate = z.infer<typeof InodeFate>;

export const StatFs = z.object({
  bsize: z.number(),
  blocks: z.number(),
  bfree: z.number(),
  bavail: z.number(),
  files: z.number(),
  ffree: z.number(),
});
export type StatFs = z.infer<typeof StatFs>;

export const DataStat = z.object({ gfid: Gfid, size: offset, mtimeMs: timeMs, ctimeMs: timeMs });
export type DataStat = z.infer<typeof DataStat>;

/**
 * One handle in a `digest` page. `kind` is the inode type on an MDS and `data` on a DS; `hash`
 * is lowercase hex: SHA-256 (64 digits) on an MDS, CRC32C (8 digits) on a DS, where `size` is
 * the object's byte count. The exact definition is in docs/ARCHITECTURE.md §10.12.
 */
export const DigestItem = z.object({
  gfid: Gfid,
  kind: z.enum(['file', 'dir', 'symlink', 'data']),
  hash: z.string().regex(/^[0-9a-f]{8}$|^[0-9a-f]{64}$/),
  size: offset.optional(),
});
export type DigestItem = z.infer<typeof DigestItem>;
/** A page of `digest`: `eof` is false when at least one more handle follows the last item. */
export const DigestPage = z.object({ items: z.array(DigestItem), eof: z.boolean() });
export type DigestPage = z.infer<typeof DigestPage>;

/** A brick's answer about its layout: its epoch and digest, and the set it puts this brick in. */
export const LayoutState = z.object({
  epoch: z.number().int().min(1),
  digest: z.string().regex(/^[0-9a-f]{64}$/),
  set: z.string(),
  /** The set has 3 or more members: the brick is on-disk format 3 and serves through its set's primary. */
  replicated: z.boolean(),
});
export type LayoutState = z.infer<typeof LayoutState>;

/** One member of a replica set as its primary sees it (`rstatus`, ARCHITECTURE.md §10.8). */
export const ReplMemberStatus = z.object({
  id: z.string(),
  /** Voters count for commit and elections; learners (being rebuilt, §10.13) do not. */
  voter: z.boolean(),
  /** Answered the primary's last heartbeat round (within the election timeout). */
  up: z.boolean(),
  /** The highest index the primary knows the member has stored (Raft's matchIndex). */
  matchIndex: offset,
  /**
   * The member lacks entries the primary's log no longer holds (truncated, ARCHITECTURE.md §10.13):
   * replay cannot repair it, a full copy will (the primary's heal loop starts it; `dht2 heal start --full`).
   */
  needsCopy: z.boolean().optional(),
});
export type ReplMemberStatus = z.infer<typeof ReplMemberStatus>;

/**
 * A replicated member's view of its set (`rstatus`, ARCHITECTURE.md §10.8): polled by every
 * gateway on each set once a second for its primary cache, `/-/ready`, `/-/health` and metrics,
 * and by `dht2 heal info`.
 */
export const ReplStatus = z.object({
  set: z.string(),
  brick: z.string(),
  role: z.enum(['primary', 'follower', 'candidate', 'learner']),
  term: offset,
  /** The primary this member follows (itself on the primary), when it knows one. */
  primary: z.string().optional(),
  lastIndex: offset,
  commitIndex: offset,
  appliedIndex: offset,
  /** The first index the member's log holds (lastIndex + 1 when it holds none): the head before it was truncated (§10.13). */
  firstIndex: offset.optional(),
  /** The term of the entry at `appliedIndex` (the base a member rebuilt from this one resets its log onto). */
  appliedTerm: offset.optional(),
  /** Bytes of the member's log segments and their blobs. */
  logBytes: offset.optional(),
  /** The primary holds a valid read lease (so a majority heard it within the lease, §10.3). */
  leaseValid: z.boolean(),
  /** On the primary: every other member. */
  members: z.array(ReplMemberStatus).optional(),
  /** `ok`; `diverged` (an apply found another state than planned, §10.5) or `corrupt` (the log failed its checks at open, ON-DISK-FORMAT.md §6.1): waits for a full copy. */
  state: z.enum(['ok', 'diverged', 'corrupt']),
  /**
   * A rebuild by full copy under way on this member (ARCHITECTURE.md §10.13, ON-DISK-FORMAT.md
   * §6.5 `repl/rebuild`): the source, the source's applied index it started from, and the
   * copy's progress against the source's totals (counted before the copy; 0 until then).
   */
  rebuild: z.object({
    source: z.string(),
    fromIndex: offset,
    phase: z.enum(['copy', 'replay']),
    copiedObjects: offset,
    copiedBytes: offset,
    skippedObjects: offset,
    removedObjects: offset,
    totalObjects: offset,
    totalBytes: offset,
  }).optional(),
  /** Opened without a vote file and with an empty log (a new or a wiped brick, §10.13): it votes only after hearing a primary's term. */
  wiped: z.boolean().optional(),
  /** A DS set: the pending fresh copies this member's replicated state holds, by missing member (§10.7). */
  pending: z.record(z.string(), offset).optional(),
});
export type ReplStatus = z.infer<typeof ReplStatus>;

const Empty = z.object({});

/**
 * A log entry as `rappend` carries it (ARCHITECTURE.md §10.4): `payload` is the record's
 * `{opId, at, fop, req, out, blob?}` (`{at}` for a no-op); the brick checks `req` and `out`
 * against the FOP table when it applies, not here (the primary already did).
 */
export const ReplEntry = z.object({
  term: offset,
  index: offset,
  kind: z.enum(['noop', 'op']),
  payload: z.object({
    opId: z.string().optional(),
    at: z.number().int().min(0),
    fop: z.string().optional(),
    req: z.unknown().optional(),
    out: z.unknown().optional(),
    blob: z.object({ size: offset, crc32c: u32 }).optional(),
  }).optional(),
});
export type ReplEntry = z.infer<typeof ReplEntry>;

type Kind = 'control' | 'upload' | 'download';
/** `peer`: served only to a member of this brick's replica set, named by `x-dht2-from` (§10.2). */
type Role = 'mds' | 'ds' | 'any' | 'peer';
interface FopDef<K extends Kind, R extends Role, Q extends z.ZodType, S extends z.ZodType> {
  kind: K;
  role: R;
  req: Q;
  res: S;
  /** Safe to retry after a lost reply (the same request cannot do harm twice). */
  idempotent: boolean;
}
function fop<K extends Kind, R extends Role, Q extends z.ZodType, S extends z.ZodType>(
  kind: K, role: R, idempotent: boolean, req: Q, res: S,
): FopDef<K, R, Q, S> {
  return { kind, role, idempotent, req, res };
}
const obj = z.strictObject;

/** Every brick operation. Order and names are part of the protocol (docs/PROTOCOL.md). */
export const FOPS = {
  // ---- any role ----
  statfs: fop('control', 'any', true, obj({}), StatFs),

  // ---- MDS: names and inodes ----
  lookup: fop('control', 'mds', true, obj({ parent: Gfid, name: Name, want: z.array(XattrName).max(16).optional() }), Attrs),
  /** A name's GFID and type, plus its attributes when the inode is on this MDS (never EREMOTE). */
  entry: fop('control', 'mds', true, obj({ parent: Gfid, name: Name }), obj({ gfid: Gfid, type: InodeType, attrs: Attrs.optional() })),
  getattr: fop('control', 'mds', true, obj({ gfid: Gfid, want: z.array(XattrName).max(16).optional() }), Attrs),
  setattr: fop('control', 'mds', true, obj({ gfid: Gfid, set: SetAttrs }), Attrs),
  icreate: fop('control', 'mds', false, obj(NewInode), Attrs),
  namelink: fop('control', 'mds', false,
    obj({ parent: Gfid, name: Name, gfid: Gfid, type: InodeType, replace: z.boolean().optional() }),
    obj({ replaced: InodeFate.optional() })),
  namedel: fop('control', 'mds', false,
    obj({ parent: Gfid, name: Name, gfid: Gfid.optional() }), obj({ gfid: Gfid, type: InodeType })),
  /** Inode and name in one step; with `replace`, an existing name is swapped atomically under rename(2)'s rules. */
  create: fop('control', 'mds', false, obj({
    ...NewInode, parent: Gfid, name: Name, replace: z.boolean().optional(),
    /** If-Match: the name must still point to this inode (or already to the new one, a retry), else ESTALE. */
    ifGfid: Gfid.optional(),
  }),
    Attrs.extend({ replaced: InodeFate.optional() })),
  /**
   * Marks an empty directory as being removed (new entries refused) or clears the mark. With
   * `carrying: G`, the directory must carry exactly G (else ESTALE), which then does not count
   * against emptiness (it is turning back into that file; while dying, only a clear that names
   * G in `expect` can take G from it).
   */
  imark: fop('control', 'mds', false, obj({ gfid: Gfid, dying: z.boolean(), carrying: Gfid.optional() }), Attrs),
  /** Pages through every handle on the brick (fsck): inodes on an MDS, data objects on a DS. */
  scan: fop('control', 'any', true, obj({ after: Gfid.optional(), limit: z.number().int().min(1).max(10000) }),
    obj({ items: z.array(z.object({ gfid: Gfid, type: InodeType, nlink: u32, size: offset, btimeMs: timeMs, dying: z.boolean().optional(), obj: Gfid.optional() })), eof: z.boolean() })),
  /**
   * Pages through a logical digest of every handle on the brick, in GFID order, so the members
   * of a replica set can be compared (docs/ARCHITECTURE.md §10.6, §10.12 "dht2 fsck"). An MDS
   * answers a SHA-256 per inode over its `user.dht2` bytes, its caller xattrs and, for a
   * directory, its sorted name entries; a DS answers each data object's size and CRC32C. Read
   * only; not atomic against FOPs running at the same time.
   */
  digest: fop('control', 'any', true, obj({ after: Gfid.optional(), limit: z.number().int().min(1).max(10000) }), DigestPage),
  /**
   * Installs the volume's layout (docs/ARCHITECTURE.md §10.9, ON-DISK-FORMAT.md §6.3): a higher
   * epoch than the stored one, or the same layout again; EINVAL otherwise, or when the layout
   * names this brick in no set of its role. A set of 3 or more makes the brick format 3.
   */
  layoutset: fop('control', 'any', true, obj({ layout: LayoutDocSchema }), LayoutState),
  /** The stored layout; ENOENT on a brick that holds none (a replica-1 volume's). */
  layoutget: fop('control', 'any', true, obj({}), obj({ layout: LayoutDocSchema, state: LayoutState })),
  /**
   * A replicated member's view of its set (ARCHITECTURE.md §10.8); served by every member,
   * primary or not. ENOTSUP on a brick that is not a member of a replicated set.
   */
  rstatus: fop('control', 'any', true, obj({}), ReplStatus),
  /**
   * Raft's RequestVote and pre-vote between members of a replica set (ARCHITECTURE.md §10.3);
   * role `peer`: ENOTSUP unless `x-dht2-from` names a member of this brick's set.
   */
  rvote: fop('control', 'peer', false,
    obj({ term: offset, pre: z.boolean(), lastTerm: offset, lastIndex: offset }),
    obj({ term: offset, granted: z.boolean() })),
  /**
   * Raft's AppendEntries from the primary (§10.4 rule 1); no entries = heartbeat. The bodies of
   * data entries are not in it: the follower fetches each with `rblob` before it answers.
   */
  rappend: fop('control', 'peer', false,
    obj({ term: offset, prevIndex: offset, prevTerm: offset, commit: offset, lowestMatch: offset, entries: z.array(ReplEntry).max(64) }),
    obj({ term: offset, ok: z.boolean(), lastIndex: offset })),
  /** The body (blob) of the log entry at `index` of `term` (ON-DISK-FORMAT.md §6.1), for a follower. */
  rblob: fop('download', 'peer', true, obj({ index: offset, term: offset }), obj({ size: offset, crc32c: u32 })),
  /**
   * One handle of the brick, whole, for a member being rebuilt by full copy (ARCHITECTURE.md
   * §10.13 step 3; PROTOCOL.md): on an MDS a JSON document of the handle (type, every
   * `user.dht2*` xattr as stored, a directory's name entries), on a DS the object's bytes; `size`
   * and `crc32c` are the body's. Role `peer`; ENOENT when the handle is not there.
   */
  rcopy: fop('download', 'peer', true, obj({ gfid: Gfid }), obj({ kind: z.enum(['mds', 'data']), size: offset, crc32c: u32 })),
  /**
   * One page of the source's pending fresh copies (`repl/pending.sqlite`, ARCHITECTURE.md §10.7,
   * ON-DISK-FORMAT.md §6.4), in (gfid, member) order after `after`, for a DS member being rebuilt
   * by full copy (§10.13 "As built (truncation)"): the rows are replicated state the copy of the
   * objects does not carry. Role `peer`; ENOTSUP on an MDS set.
   */
  rpending: fop('control', 'peer', true,
    obj({ after: z.object({ gfid: Gfid, member: z.string().min(1).max(128) }).optional(), limit: z.number().int().min(1).max(10000) }),
    obj({
      items: z.array(z.object({ gfid: Gfid, member: z.string().min(1).max(128), size: offset, crc32c: u32, idx: offset })),
      eof: z.boolean(),
    })),
  /**
   * One page of the opIds of the entries applied on this member at or below `upTo` within the
   * duplicate window (10 minutes by the entry's `at`): those still in its log and those truncated
   * from it (ARCHITECTURE.md §10.4 "Duplicates"), in index order after index `after`, for a member
   * rebuilt by full copy whose copy's index is `upTo` (§10.13 "As built (op ids)"): it answers a
   * resend of one of them EALREADY instead of planning it again. Role `peer`.
   */
  rops: fop('control', 'peer', true,
    obj({ after: offset, upTo: offset, limit: z.number().int().min(1).max(10000) }),
    obj({ items: z.array(z.object({ opId: z.string().min(1).max(64), index: offset, at: offset })), eof: z.boolean() })),
  /**
   * Starts a rebuild of this member by full copy from its set's primary (`dht2 heal start
   * --full`, ARCHITECTURE.md §10.13): it becomes a learner until the copy and the log tail are
   * applied. `started` is false when one is already under way (it goes on).
   */
  rrebuild: fop('control', 'any', false, obj({}), obj({ started: z.boolean() })),
  /**
   * Sets (or, with null, clears) the object a directory carries, atomically; `expect` makes it
   * conditional (null: none yet, else EEXIST; a GFID: that one, else ESTALE). Answers the file
   * inode it replaced, which the caller then finishes (iunlink, data) as after an unlink.
   */
  objset: fop('control', 'mds', false,
    obj({ gfid: Gfid, obj: Gfid.nullable(), expect: Gfid.nullable().optional() }),
    obj({ attrs: Attrs, prev: Gfid.optional() })),
  /**
   * Points the existing name `parent/name` from inode `from` to inode `to` in one rename(2),
   * touching neither inode's link count (ESTALE when the name no longer points at `from`): a
   * file turning into a directory that carries it, or back.
   */
  nameswap: fop('control', 'mds', false,
    obj({ parent: Gfid, name: Name, from: Gfid, to: Gfid, type: InodeType }), Empty),
  unlink: fop('control', 'mds', false, obj({ parent: Gfid, name: Name }), InodeFate),
  rmdir: fop('control', 'mds', false, obj({ parent: Gfid, name: Name }), InodeFate),
  iunlink: fop('control', 'mds', false, obj({ gfid: Gfid }), InodeFate),
  ilink: fop('control', 'mds', false, obj({ gfid: Gfid }), Attrs),
  link: fop('control', 'mds', false, obj({ gfid: Gfid, parent: Gfid, name: Name }), Attrs),
  rename: fop('control', 'mds', false,
    obj({ parent: Gfid, name: Name, newParent: Gfid, newName: Name, noReplace: z.boolean().optional() }),
    obj({ gfid: Gfid, type: InodeType, replaced: InodeFate.optional() })),
  readlink: fop('control', 'mds', true, obj({ gfid: Gfid }), obj({ target: z.string() })),
  getxattr: fop('control', 'mds', true, obj({ gfid: Gfid, name: XattrName }), obj({ value: XattrValue })),
  setxattr: fop('control', 'mds', false,
    obj({ gfid: Gfid, name: XattrName, value: XattrValue, flag: z.enum(['create', 'replace']).optional() }), Empty),
  listxattr: fop('control', 'mds', true, obj({ gfid: Gfid }), obj({ names: z.array(z.string()) })),
  removexattr: fop('control', 'mds', false, obj({ gfid: Gfid, name: XattrName }), Empty),
  readdir: fop('control', 'mds', true,
    obj({ gfid: Gfid, after: z.string().optional(), limit: z.number().int().min(1).max(10000), plus: z.boolean().optional(), want: z.array(XattrName).max(16).optional() }),
    obj({ entries: z.array(DirEntry), eof: z.boolean() })),

  // ---- DS: data objects ----
  dcreate: fop('control', 'ds', false, obj({ gfid: Gfid }), DataStat),
  dstat: fop('control', 'ds', true, obj({ gfid: Gfid }), DataStat),
  dtruncate: fop('control', 'ds', true, obj({ gfid: Gfid, size: offset }), DataStat),
  dunlink: fop('control', 'ds', true, obj({ gfid: Gfid }), Empty),
  dfsync: fop('control', 'ds', true, obj({ gfid: Gfid }), Empty),
  dconcat: fop('control', 'ds', false,
    obj({ gfid: Gfid, parts: z.array(Gfid).min(1).max(10000), removeParts: z.boolean().optional() }), DataStat),
  dcopy: fop('control', 'ds', true,
    obj({ src: Gfid, gfid: Gfid, offset: offset.optional(), length: offset.optional() }), DataStat),
  /**
   * Replace an object atomically with the body (temp file, fsync, rename). `fresh` (ARCHITECTURE.md
   * §10.7): the GFID is new, nothing names it yet: the object is linked into place (EEXIST when it
   * is there already) and, on a member of a replicated set, stored by every member the gateway
   * sends it to, without the log; `at` is then the time the gateway gives it (the same on every
   * member).
   */
  dput: fop('upload', 'ds', true, obj({ gfid: Gfid, fresh: z.boolean().optional(), at: z.number().int().min(0).optional() }), DataStat),
  /**
   * Write the body at `offset` in place (creates the object when `create`); with `append`, at
   * the end instead (offset ignored), the whole body at once against other appends.
   */
  dwrite: fop('upload', 'ds', false,
    obj({ gfid: Gfid, offset: offset, create: z.boolean().optional(), append: z.boolean().optional() }), DataStat),
  dread: fop('download', 'ds', true, obj({ gfid: Gfid, offset: offset.optional(), length: offset.optional() }), DataStat),
  /**
   * The pending record of a fresh object (ARCHITECTURE.md §10.7 step 4, ON-DISK-FORMAT.md §6.4):
   * the members in `missing` lack it; sent to the DS set's primary, logged, answered once
   * committed and applied. Only on a member of a replicated set.
   */
  pending: fop('control', 'ds', true,
    obj({ gfid: Gfid, size: offset, crc32c: u32, missing: z.array(z.string().min(1).max(128)).min(1).max(16) }), Empty),
  /** `member` holds the fresh object `gfid` now: its pending row goes (logged, as `pending`). */
  pendingDone: fop('control', 'ds', true, obj({ gfid: Gfid, member: z.string().min(1).max(128) }), Empty),
} as const;

export type FopTable = typeof FOPS;
export type FopName = keyof FopTable;
export type FopReq<F extends FopName> = z.output<FopTable[F]['req']>;
export type FopRes<F extends FopName> = z.output<FopTable[F]['res']>;
type OfKind<K extends Kind> = { [F in FopName]: FopTable[F]['kind'] extends K ? F : never }[FopName];
export type ControlFop = OfKind<'control'>;
export type UploadFop = OfKind<'upload'>;
export type DownloadFop = OfKind<'download'>;
/** The FOPs the table gives to one role ('any': served by every brick), optionally of one kind. */
export type FopOfRole<R extends Role, K extends Kind = Kind> = {
  [F in FopName]: FopTable[F]['role'] extends R ? (FopTable[F]['kind'] extends K ? F : never) : never;
}[FopName];

/** True when the table gives `fop` to `role`. */
export function isFopOfRole<R extends Role>(fop: FopName, role: R): fop is FopOfRole<R> {
  return FOPS[fop].role === role;
}

/** True when `s` names a FOP of this protocol version. */
export function isFopName(s: string): s is FopName {
  return Object.hasOwn(FOPS, s);
}

/**
 * Validates wire arguments against the FOP table. Throws EINVAL (or ENAMETOOLONG for a name
 * over NAME_MAX) naming the first bad field; returns the parsed request.
 */
export function parseFopArgs<F extends FopName>(fop: F, args: unknown): FopReq<F> {
  const r = FOPS[fop].req.safeParse(args);
  if (r.success) return r.data as FopReq<F>;
  const first = r.error.issues[0];
  const msg = first ? `${first.path.join('.') || 'args'}: ${first.message}` : 'invalid arguments';
  throw new Dht2Error(/ENAMETOOLONG/.test(msg) ? 'ENAMETOOLONG' : 'EINVAL', `${fop}: ${msg}`);
}
