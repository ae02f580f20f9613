/**
 * The sequential specification of our volume, per key, for the linearizability checker
 * (test/helpers/linearizability.ts, ARCHITECTURE.md §10.11). A key is an S3 object
 * (`bucket/key`) or a file (its path under /fs/ without the leading slash: the same string for
 * the same object through either API).
 *
 * State of a key: absent, or its content and ETag. Operations and answers:
 *
 * | op | input | output |
 * |---|---|---|
 * | `put` | `{value}` | ok (`etag?`) |
 * | `put-if-none-match` | `{value}` | ok \| precondition-failed |
 * | `put-if-match` | `{etag, value}` | ok \| precondition-failed \| absent (see `ifMatchAbsent`) |
 * | `get` | `{}` | ok (`value`, `etag?`) \| absent |
 * | `delete` | `{absentOk?}` | ok \| absent (S3 answers ok for an absent key: `absentOk`) |
 * | `append` | `{value}` | ok (`size`, the size after it) \| absent |
 * | `rename` | `{to, noReplace?}`, `keys: [to]` | ok \| absent (no source) \| exists (`noReplace`) |
 *
 * Appends: the state is the whole content, so two clients' appends are checked by what every
 * read returns (the chunks in one order, each once) and by the sizes they answered. After an
 * append the ETag is not the MD5 of the content any more (the file API drops the stored MD5,
 * server/files/object-meta.ts), so it is unknown: If-Match against it is taken from the answer,
 * and with no answer either way.
 *
 * Rename touches two keys: the checker puts both keys' operations in one partition, and the state
 * of a partition is a map of keys. Listings are not per-key and are not checked (a list result
 * would need a linearization point against every key under its prefix); record them elsewhere.
 */
import { createHash } from 'node:crypto';
import type { Model, Operation } from './linearizability.js';

export type VolumeOp = 'put' | 'put-if-none-match' | 'put-if-match' | 'get' | 'delete' | 'append' | 'rename';

export interface VolumeInput {
  value?: string;
  etag?: string;
  absentOk?: boolean;
  to?: string;
  noReplace?: boolean;
}

export type VolumeOutput =
  | { status: 'ok'; value?: string; etag?: string; size?: number }
  | { status: 'absent' }
  | { status: 'precondition-failed' }
  | { status: 'exists' };

export type VolumeOperation = Operation<VolumeInput, VolumeOutput> & { op: VolumeOp };

/** A key's content and ETag (undefined: not known, after an append). */
interface Obj {
  value: string;
  etag: string | undefined;
}
/** A partition's state: the present keys. Never changed in place. */
export type VolumeState = ReadonlyMap<string, Obj>;

export interface VolumeModelOptions {
  /** The ETag of a whole-object write (default: S3's quoted hex MD5 of the UTF-8 bytes). */
  etagOf?: (value: string) => string;
  /**
   * The answer to If-Match on an absent key: our gateway says 412 PreconditionFailed
   * (server/objects/layer.ts ifMatchGfid); AWS says 404 NoSuchKey. Default precondition-failed.
   */
  ifMatchAbsent?: 'precondition-failed' | 'absent';
  /**
   * What an append's size is: `exact`, the size right after it; `at-least`, at least that (the
   * file API answers the MDS's cached size after its `setattr sizeAtLeast`, which a concurrent
   * longer append may already have raised: dht2-core/fops/data.ts append).
   */
  appendSize?: 'exact' | 'at-least';
}

export const md5Etag = (value: string): string => `"${createHash('md5').update(value).digest('hex')}"`;

const ABSENT = '\0absent:';
const INTO = '\0into:';
const PRESENT = '\0present:';
const ETAG = '\0etag:';

export function volumeModel(o: VolumeModelOptions = {}): Model<VolumeState, VolumeInput, VolumeOutput> {
  const etagOf = o.etagOf ?? md5Etag;
  const ifMatchAbsent = o.ifMatchAbsent ?? 'precondition-failed';
  const set = (s: VolumeState, k: string, v: Obj | undefined): VolumeState => {
    const m = new Map(s);
    if (v) m.set(k, v);
    else m.delete(k);
    return m;
  };
  const out = (op: Operation<VolumeInput, VolumeOutput>) => op.output?.status;
  return {
    init: () => new Map(),
    stateKey: (s) => JSON.stringify([...s].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    describeState: (s) => (s.size === 0 ? 'all absent' : [...s].map(([k, v]) => `${k}=${JSON.stringify(v.value)}`).join(', ')),
    describeOp(op) {
      const i = op.input;
      const args = op.op === 'get' || op.op === 'delete' ? '' : op.op === 'rename' ? ` → ${i.to}` : ` ${JSON.stringify(i.value)}${op.op === 'put-if-match' ? ` if ${i.etag}` : ''}`;
      const res = op.output === undefined ? '? (unknown outcome)'
        : op.output.status !== 'ok' ? op.output.status
        : op.op === 'get' ? JSON.stringify(op.output.value) : op.op === 'append' && op.output.size !== undefined ? `ok, size ${op.output.size}` : 'ok';
      return `${op.op} ${op.key}${args} → ${res}`;
    },
    readOnly: (op) => op.op === 'get',
    writes(op) {
      switch (op.op) {
        case 'put': case 'put-if-none-match': case 'put-if-match': return [op.input.value!, PRESENT + op.key, ETAG + etagOf(op.input.value!)];
        case 'append': return [op.input.value!, PRESENT + op.key];
        case 'delete': return [ABSENT + op.key];
        case 'rename': {
          const to = op.input.to ?? op.keys?.[0] ?? '';
          return [ABSENT + op.key, INTO + to, PRESENT + to];
        }
        default: return [];
      }
    },
    observes(op) {
      const st = op.output?.status;
      if (st === 'absent') return [ABSENT + op.key];
      if (st === 'precondition-failed' && op.op === 'put-if-none-match') return [PRESENT + op.key];
      if (st === 'exists') return [PRESENT + (op.input.to ?? '')];
      // An append's size depends on every earlier append: only its need of a file is kept here,
      // so a window shrunk around an append that answered a wrong size may show fewer appends
      // than the cause.
      if (op.op === 'append' && st === 'ok') return [PRESENT + op.key];
      if (op.op === 'put-if-match' && st === 'ok') return [PRESENT + op.key, ETAG + (op.input.etag ?? '')];
      if (op.op !== 'get' || op.output?.status !== 'ok') return [];
      return [op.output.value ?? '', INTO + op.key];
    },
    step(s, op) {
      const cur = s.get(op.key);
      const st = out(op);
      const whole = (value: string): VolumeState => set(s, op.key, { value, etag: etagOf(value) });
      switch (op.op) {
        case 'put': {
          const v = op.input.value!;
          if (st === undefined) return [whole(v)];
          if (op.output?.status !== 'ok') return [];
          return op.output.etag !== undefined && op.output.etag !== etagOf(v) ? [] : [whole(v)];
        }
        case 'put-if-none-match': {
          const v = op.input.value!;
          if (st === undefined) return [cur ? s : whole(v)];
          if (st === 'precondition-failed') return cur ? [s] : [];
          if (op.output?.status !== 'ok' || cur) return [];
          return op.output.etag !== undefined && op.output.etag !== etagOf(v) ? [] : [whole(v)];
        }
        case 'put-if-match': {
          const v = op.input.value!;
          if (!cur) return st === undefined || st === ifMatchAbsent ? [s] : [];
          // The ETag after an append is not known: the answer says whether it matched.
          const match = cur.etag === undefined ? undefined : op.input.etag === '*' || op.input.etag === cur.etag;
          if (st === undefined) return match === undefined ? [whole(v), s] : [match ? whole(v) : s];
          if (st === 'precondition-failed') return match === true ? [] : [s];
          if (op.output?.status !== 'ok' || match === false) return [];
          return op.output.etag !== undefined && op.output.etag !== etagOf(v) ? [] : [whole(v)];
        }
        case 'get': {
          if (st === undefined) return [s];
          if (st === 'absent') return cur ? [] : [s];
          if (op.output?.status !== 'ok' || !cur || op.output.value !== cur.value) return [];
          return op.output.etag !== undefined && cur.etag !== undefined && op.output.etag !== cur.etag ? [] : [s];
        }
        case 'delete': {
          if (st === undefined) return [set(s, op.key, undefined)];
          if (st === 'absent') return cur ? [] : [s];
          if (st !== 'ok') return [];
          return cur || op.input.absentOk ? [set(s, op.key, undefined)] : [];
        }
        case 'append': {
          if (!cur) return st === undefined || st === 'absent' ? [s] : [];
          const next = set(s, op.key, { value: cur.value + op.input.value!, etag: undefined });
          if (st === undefined) return [next];
          if (op.output?.status !== 'ok') return [];
          const size = Buffer.byteLength(cur.value + op.input.value!);
          const said = op.output.size;
          if (said === undefined) return [next];
          return (o.appendSize === 'at-least' ? said >= size : said === size) ? [next] : [];
        }
        case 'rename': {
          const to = op.input.to ?? op.keys?.[0];
          if (to === undefined) throw new Error(`rename without a destination: ${op.key}`);
          const dst = s.get(to);
          if (!cur) return st === undefined || st === 'absent' ? [s] : [];
          if (op.input.noReplace && dst && to !== op.key) return st === undefined || st === 'exists' ? [s] : [];
          if (st !== undefined && st !== 'ok') return [];
          return [to === op.key ? s : set(set(s, op.key, undefined), to, cur)];
        }
        default:
          throw new Error(`volume model: unknown operation ${String(op.op)}`);
      }
    },
  };
}
