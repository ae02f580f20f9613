/**
 * Multipart form upload (`curl -F file=@a -F file=@b $FS/dir/`): multer parses the form and a
 * storage engine streams each file part straight into the volume with writeFileAt, so a file
 * is never held whole in the gateway's memory or on its disk. Each file is replaced
 * atomically, like a PUT. When the request fails (a limit, a bad part, a volume error, the
 * client going away), the files it had already created are removed again; a file it replaced
 * keeps its new bytes (the old ones are gone once the new file is named).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import multer, { type StorageEngine } from 'multer';
import { withObjectMeta } from './object-meta.js';
import { checkName, Dht2Error, isErr, type Attrs, type Volume } from '../../dht2-core/index.js';
import { refuseReservedWrite } from '../objects/index.js';
import { authErrorIn } from '../auth/index.js';
import { HttpError } from './http.js';

export interface UploadLimits {
  /** Most file parts in one request (default 100). */
  files: number;
  /** Most bytes in one file (default 5 GiB). */
  fileSize: number;
  /** Most non-file fields (ignored, but parsed; default 16). */
  fields: number;
  /** Most bytes in one non-file field (default 4 KiB). */
  fieldSize: number;
}

export const DEFAULT_UPLOAD_LIMITS: UploadLimits = { files: 100, fileSize: 5 * 1024 ** 3, fields: 16, fieldSize: 4096 };

export interface UploadedFile {
  path: string;
  attrs: Attrs;
}

interface Stored {
  /** Full volume path of the file. */
  path: string;
  size: number;
  attrs: Attrs;
  /** The name did not exist before this request wrote it. */
  created: boolean;
}

const join = (dir: string, name: string) => `${dir.replace(/\/+$/, '')}/${name}`;

/** Streams each file part into `dir`; one Dht2Error path per file. */
class VolumeStorage implements StorageEngine {
  constructor(private readonly v: Volume, private readonly dir: { path: string; gfid: string }, private readonly createOnly: boolean, private readonly maxSize: number) {}

  _handleFile(_req: unknown, file: Express.Multer.File, cb: (error?: unknown, info?: Partial<Express.Multer.File>) => void): void {
    this.store(file.originalname, file.mimetype, file.stream).then((s) => cb(null, s as unknown as Partial<Express.Multer.File>), (e: unknown) => cb(e));
  }

  private async store(name: string, type: string | undefined, stream: Readable): Promise<Stored> {
    const path = join(this.dir.path, name);
    // The bytes go through a PassThrough so that busboy's 'limit' (the part was cut at
    // maxSize) fails the upload instead of ending it: a cut-off file is never committed.
    const body = new PassThrough();
    body.on('error', () => undefined); // the consumer (the DS upload) sees it; nothing else must throw
    const fail = (e: Error) => {
      body.destroy(e);
      stream.resume();
    };
    stream.once('limit', () => fail(new Dht2Error('EFBIG', `${name} is larger than ${this.maxSize} bytes`, { path })));
    stream.once('error', fail);
    stream.pipe(body);
    try {
      checkName(name);
      refuseReservedWrite(path);
      let created = true;
      if (!this.createOnly) {
        created = await this.v.lookup(this.dir.gfid, name).then(() => false, (e: unknown) => {
          if (isErr(e, 'ENOENT')) return true;
          throw e;
        });
      }
      // The part's Content-Type (curl -F guesses it from the name) is kept as S3 keeps a PUT's.
      const m = withObjectMeta(body, type ? { 'content-type': type } : {});
      const attrs = await this.v.writeFileAt(this.dir.gfid, name, m.body, { createOnly: this.createOnly, xattrs: m.xattrs });
      return { path, size: attrs.size, attrs, created };
    } catch (e) {
      fail(e as Error);
      if (e instanceof Dht2Error && e.path !== path) {
        const msg = e.detail.replace(`${name}: `, '');
        throw new Dht2Error(e.errno, `${path}: ${msg}`, { path, gfid: e.gfid, cause: e });
      }
      throw e;
    }
  }

  _removeFile(_req: unknown, file: Express.Multer.File, cb: (error: Error | null) => void): void {
    const s = file as unknown as Partial<Stored> & { originalname: string };
    if (!s.created || !s.attrs) { cb(null); return; }
    const gfid = s.attrs.gfid;
    const name = s.originalname;
    // Only the file this request made: not one a later writer has put at the name since.
    this.v.lookup(this.dir.gfid, name)
      .then((a) => (a.gfid === gfid ? this.v.unlink(s.path!) : undefined))
      .then(() => cb(null), () => cb(null));
  }
}

const LIMIT_ERRNO: Record<string, [string, string]> = {
  LIMIT_FILE_SIZE: ['EFBIG', 'a file is larger than the upload limit'],
  LIMIT_FILE_COUNT: ['E2BIG', 'too many files in one request'],
  LIMIT_PART_COUNT: ['E2BIG', 'too many parts in one request'],
  LIMIT_FIELD_COUNT: ['E2BIG', 'too many form fields in one request'],
  LIMIT_FIELD_VALUE: ['E2BIG', 'a form field is too long'],
  LIMIT_FIELD_KEY: ['E2BIG', 'a form field name is too long'],
};

/**
 * Receives the multipart/form-data body of `req` into the directory `dir`. `body`, when
 * given, is the request body after signature checks (SigV4 payload hash, aws-chunked); it is
 * what the form is parsed from.
 */
export async function receiveUpload(
  v: Volume, req: IncomingMessage, res: ServerResponse, dir: { path: string; gfid: string },
  o: { createOnly: boolean; limits: UploadLimits; body?: Readable },
): Promise<UploadedFile[]> {
  const { limits } = o;
  const storage = new VolumeStorage(v, dir, o.createOnly, limits.fileSize);
  const options: multer.Options & { streamHandler?: (req: IncomingMessage, busboy: NodeJS.WritableStream) => void } = {
    storage,
    defParamCharset: 'utf8',
    limits: { files: limits.files, fileSize: limits.fileSize, fields: limits.fields, fieldSize: limits.fieldSize, parts: limits.files + limits.fields },
  };
  const body = o.body;
  if (body) {
    options.streamHandler = (_req, busboy) => {
      pipeline(body, busboy as NodeJS.WritableStream & Readable).catch((e: unknown) => (busboy as unknown as Readable).destroy(e as Error));
    };
  }
  const mw = multer(options).any();
  try {
    await new Promise<void>((resolve, reject) => {
      mw(req as never, res as never, (e?: unknown) => (e ? reject(e) : resolve()));
    });
  } catch (e) {
    if (e instanceof multer.MulterError) {
      const m = LIMIT_ERRNO[e.code];
      if (m) throw new HttpError(413, m[0], `${m[1]} (${e.code.toLowerCase().replaceAll('_', ' ')}: files ${limits.files}, file size ${limits.fileSize} bytes)`);
      throw new HttpError(400, 'EINVAL', `bad multipart form: ${e.message}`);
    }
    if (e instanceof Dht2Error || e instanceof HttpError || authErrorIn(e)) throw e;
    // busboy's parse errors: the body is not a well-formed form.
    if (e instanceof Error && /^(Malformed|Unexpected end|Multipart|Unsupported content type|Missing Content-Type)/i.test(e.message)) {
      throw new HttpError(400, 'EINVAL', `bad multipart form: ${e.message}`);
    }
    throw e;
  }
  const files = ((req as IncomingMessage & { files?: unknown }).files ?? []) as Array<Partial<Stored>>;
  return files.map((f) => ({ path: f.path!, attrs: f.attrs! }));
}
