/**
 * PostObject: browser-based uploads with an HTML form
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html). A POST on a bucket
 * whose multipart/form-data body carries `key`, a signed `policy`, optional object fields
 * (Content-Type, Cache-Control…, x-amz-meta-*) and, last, the `file`.
 *
 * multer parses the form; when the file part starts, the fields before it are all there is
 * (S3 ignores what follows the file): the signature (server/auth/post-signature.ts) and the
 * policy (post-policy.ts) are checked, then the file streams through the policy's
 * content-length-range check (and Content-MD5, when given) into putObject: the same volume path
 * and metadata as a PUT, so a file that is cut off, too large or too small leaves nothing.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Readable, Transform } from 'node:stream';
import multer, { type StorageEngine } from 'multer';
import { authenticatePostForm, authorize, contentMd5Verifier, missingField, type CredentialStore } from '../auth/index.js';
import { header, type S3Deps, type S3Reply, type S3Request } from './context.js';
import { S3Error, authErrorIn } from './errors.js';
import { STORED_HEADERS, asHeaderBytes } from '../objects/index.js';
import { putObject } from './object.js';
import { checkPostPolicy, parsePostPolicy, type FormValue } from './post-policy.js';
import { xmlPlain } from './xml.js';

/** "The form data and boundaries (excluding the contents of the file) cannot exceed 20 KB." */
export const MAX_POST_FIELDS_BYTES = 20 * 1024;
/** The largest object one POST may upload (5 GB, as S3). */
export const MAX_POST_OBJECT_BYTES = 5 * 1024 ** 3;

const FORM_LIMITS = { fieldSize: MAX_POST_FIELDS_BYTES, fieldNameSize: 1024, fields: 200, files: 16, parts: 216, fileSize: MAX_POST_OBJECT_BYTES };

/** What the form asked for and what was stored. */
interface Posted {
  key: string;
  etag: string;
  status?: string;
  redirect?: string;
}

/** The text fields before the file, names lower-cased; a field given twice is refused. */
function formFields(entries: Array<[string, unknown]>): Map<string, string> {
  const out = new Map<string, string>();
  let bytes = 0;
  for (const [name, value] of entries) {
    const k = name.toLowerCase();
    if (typeof value !== 'string' || out.has(k)) {
      throw new S3Error('InvalidArgument', `The form field '${name}' must be given once, as a plain field.`);
    }
    bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
    out.set(k, value);
  }
  if (bytes > MAX_POST_FIELDS_BYTES) throw new S3Error('MaxPostPreDataLengthExceededError');
  return out;
}

/** "If the browser provides a full or partial path to the file, only the text after the last slash or backslash is used." */
function baseName(filename: string | undefined): string {
  return (filename ?? '').split(/[/\\]/).at(-1) ?? '';
}

/** How a multer or busboy failure reads in S3 terms. */
function formErrorOf(e: unknown): unknown {
  if (e instanceof S3Error || authErrorIn(e)) return e;
  if (e instanceof multer.MulterError) {
    switch (e.code) {
      case 'LIMIT_FIELD_VALUE': case 'LIMIT_FIELD_KEY': case 'LIMIT_FIELD_COUNT': case 'LIMIT_PART_COUNT':
        return new S3Error('MaxPostPreDataLengthExceededError', undefined, undefined, { cause: e });
      case 'LIMIT_FILE_SIZE':
        return new S3Error('EntityTooLarge', undefined, undefined, { cause: e, details: { MaxSizeAllowed: String(MAX_POST_OBJECT_BYTES) } });
      case 'LIMIT_FILE_COUNT':
        return new S3Error('InvalidArgument', 'POST requires exactly one file upload per request.', undefined, { cause: e });
      default:
        return new S3Error('MalformedPOSTRequest', undefined, undefined, { cause: e });
    }
  }
  if (e instanceof Error && /^Request (aborted|closed)/.test(e.message)) return new S3Error('IncompleteBody', undefined, undefined, { cause: e });
  // busboy's parse errors: the body is not a well-formed form.
  if (e instanceof Error && /^(Malformed|Unexpected end|Multipart|Unsupported content type|Missing Content-Type)/i.test(e.message)) {
    return new S3Error('MalformedPOSTRequest', undefined, undefined, { cause: e });
  }
  return e;
}

/**
 * Handles a POST on `bucket`. The request is not signed: the form is (its policy signature),
 * so `r.body` is the raw request body and `r.accessKeyId` is not used.
 */
export async function postObject(d: S3Deps, credentials: CredentialStore, bucket: string, r: S3Request): Promise<S3Reply> {
  if (!/^multipart\/form-data\s*(;|$)/i.test(header(r.headers, 'content-type') ?? '')) {
    throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', undefined, {
      details: { Condition: 'Bucket POST must be of the enclosure-type multipart/form-data' },
    });
  }

  /** Authenticates the form and checks its policy; what putObject needs for the file. */
  const accept = (fields: Map<string, string>, filename: string | undefined) => {
    const key = fields.get('key');
    if (key === undefined) throw missingField('key');
    const auth = authenticatePostForm(fields, credentials);
    const policy = parsePostPolicy(fields.get('policy')!);
    const name = baseName(filename);
    const form = new Map<string, FormValue>();
    for (const [k, v] of fields) form.set(k, { value: v.replaceAll('${filename}', name), sent: v });
    checkPostPolicy(policy, form, bucket);
    // The fields that become stored headers and user metadata, in the form a request's headers
    // have (their UTF-8 bytes, objects/meta.ts): checked and stored as a PUT's headers are, so a
    // field with a CR or LF is refused (400) and a non-ASCII one can be sent back (issue 14).
    const headers: IncomingHttpHeaders = {};
    for (const [k, v] of form) {
      if (k === 'content-type' || k.startsWith('x-amz-meta-') || (STORED_HEADERS as readonly string[]).includes(k)) headers[k] = asHeaderBytes(v.value);
    }
    const md5 = fields.get('content-md5');
    return {
      key: form.get('key')!.value, auth, headers, length: policy.length,
      md5: md5 !== undefined ? contentMd5Verifier(md5) : undefined,
      status: fields.get('success_action_status'),
      redirect: form.get('success_action_redirect')?.value ?? form.get('redirect')?.value,
    };
  };

  /** Streams the file into the volume with PutObject's path; the policy's size range is enforced as it flows. */
  const store = async (fields: Map<string, string>, filename: string | undefined, src: Readable): Promise<Posted> => {
    let a: ReturnType<typeof accept>;
    try {
      a = accept(fields, filename);
    } catch (e) {
      src.resume();
      throw e;
    }
    let violation: S3Error | undefined;
    let n = 0;
    const range = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        n += chunk.length;
        if (a.length && n > a.length.max) {
          violation = new S3Error('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size', undefined, { details: { MaxSizeAllowed: String(a.length.max) } });
          cb(violation);
        } else cb(null, chunk);
      },
      flush(cb) {
        if (a.length && n < a.length.min) {
          violation = new S3Error('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed size', undefined, {
            details: { ProposedSize: String(n), MinSizeAllowed: String(a.length.min) },
          });
          cb(violation);
        } else cb();
      },
    });
    const stages: Transform[] = a.md5 ? [range, a.md5] : [range];
    for (const s of stages) s.on('error', () => undefined); // the volume upload reading the last stage sees it; nothing else must throw
    const fail = (e: Error) => {
      for (const s of stages) s.destroy(e);
      src.unpipe();
      src.resume();
    };
    // busboy cuts a file at the form's size limit and says 'limit': a cut file must fail, not end.
    src.once('limit', () => {
      violation = formErrorOf(new multer.MulterError('LIMIT_FILE_SIZE')) as S3Error;
      fail(violation);
    });
    let streamError: unknown;
    src.on('error', (e: Error) => { streamError ??= e; fail(e); });
    // pipe(), not pipeline(): busboy's file stream must never be destroyed (the form would stall), only drained.
    let body: Readable = src;
    for (const s of stages) {
      if (body !== src) body.once('error', (e: Error) => s.destroy(e));
      body = body.pipe(s);
    }
    try {
      // The form's policy authenticated the request: now the permission a PUT needs, then the
      // bucket's lookup (router.ts permissionsOf names s3:PutObject for PostObject).
      authorize({ accessKeyId: a.auth.accessKeyId }, 's3:PutObject', bucket, a.key);
      const put = await putObject(d, await d.objects.bucket(bucket, r.ctx), a.key, { ...r, headers: a.headers, body, query: new URLSearchParams(), accessKeyId: a.auth.accessKeyId });
      return { key: a.key, etag: String(put.headers?.etag), ...(a.status !== undefined ? { status: a.status } : {}), ...(a.redirect !== undefined ? { redirect: a.redirect } : {}) };
    } catch (e) {
      fail(e as Error);
      if (violation) throw violation;
      if (streamError !== undefined && !authErrorIn(e)) throw formErrorOf(streamError);
      throw e;
    }
  };

  let upload: Promise<Posted> | undefined;
  const storage: StorageEngine = {
    _handleFile(req, file, cb) {
      if (upload) {
        file.stream.resume(); // "Any fields below [the file] are ignored."
        cb(null, {});
        return;
      }
      const fields = Object.entries((req as unknown as { body: Record<string, unknown> }).body);
      upload = file.fieldname.toLowerCase() !== 'file'
        ? Promise.reject(new S3Error('InvalidArgument', `The file must be sent in the form field named 'file', not '${file.fieldname}'.`))
        : Promise.resolve().then(() => store(formFields(fields), file.originalname, file.stream));
      upload.then(() => cb(null, {}), (e: unknown) => { file.stream.resume(); cb(e); });
    },
    // An object is stored once its file has arrived whole; nothing that follows the file undoes it.
    _removeFile(_req, _file, cb) { cb(null); },
  };
  const req = Object.assign(r.body, { headers: r.headers });
  let formError: unknown;
  await new Promise<void>((resolve) => {
    multer({ storage, defParamCharset: 'utf8', limits: FORM_LIMITS }).any()(req as never, {} as never, (e?: unknown) => {
      formError = e;
      resolve();
    });
  });
  if (!upload) {
    if (formError !== undefined) throw formErrorOf(formError);
    // No file part: S3 also takes the file as a plain text field, "file or text content".
    const all = Object.entries((req as unknown as { body?: Record<string, unknown> }).body ?? {});
    const at = all.findIndex(([k]) => k.toLowerCase() === 'file');
    const before = formFields(at < 0 ? all : all.slice(0, at));
    if (at < 0) {
      accept(before, undefined); // a form that is not allowed to upload hears that first
      throw new S3Error('InvalidArgument', 'POST requires exactly one file upload per request.', undefined, { details: { ArgumentName: 'file', ArgumentValue: '0' } });
    }
    const text = all[at]![1];
    if (typeof text !== 'string') throw new S3Error('InvalidArgument', 'POST requires exactly one file upload per request.');
    upload = store(before, undefined, Readable.from([Buffer.from(text)]));
  }
  return reply(await upload, bucket, r);
}

/** The object's URL, path style or, when the Host names the bucket, virtual-host style. */
function objectUrl(r: S3Request, bucket: string, key: string): string {
  const host = header(r.headers, 'host') ?? 'localhost';
  const proto = header(r.headers, 'x-forwarded-proto') === 'https' ? 'https' : 'http';
  const path = key.split('/').map(encodeURIComponent).join('/');
  return host.toLowerCase().startsWith(`${bucket}.`) ? `${proto}://${host}/${path}` : `${proto}://${host}/${bucket}/${path}`;
}

/**
 * success_action_redirect (or the older `redirect`): 303 to that URL with bucket, key and etag
 * added; a value that is not an http(s) URL is ignored. Else success_action_status: 200 or 204
 * with no body, 201 with a PostResponse document; any other value is 204.
 */
function reply(p: Posted, bucket: string, r: S3Request): S3Reply {
  const location = objectUrl(r, bucket, p.key);
  const headers = { etag: p.etag, location };
  if (p.redirect !== undefined && URL.canParse(p.redirect)) {
    const to = new URL(p.redirect);
    if (to.protocol === 'http:' || to.protocol === 'https:') {
      to.searchParams.append('bucket', bucket);
      to.searchParams.append('key', p.key);
      to.searchParams.append('etag', p.etag);
      return { status: 303, headers: { ...headers, location: to.toString() } };
    }
  }
  if (p.status === '200') return { status: 200, headers };
  if (p.status === '201') {
    const body = xmlPlain('PostResponse', { Location: location, Bucket: bucket, Key: p.key, ETag: p.etag });
    return { status: 201, headers: { ...headers, 'content-type': 'application/xml' }, body };
  }
  return { status: 204, headers };
}
