/**
 * The S3 router as a table (after Garage's src/api/s3/router.rs tests): the request lines of
 * AWS's documentation (the "Examples" / sample requests of each operation's API page, and its
 * "Request Syntax" where it has no example), each parsed in virtual-hosted style (Host:
 * <bucket>.s3.amazonaws.com, domain s3.amazonaws.com) and in path style (/<bucket>/<key>), from
 * the raw target through server/request-target.ts's split to the endpoint the handler gets and
 * the permissions (S3 actions) it needs. A unit test of the parser: no servers.
 */
import assert from 'node:assert/strict';
import { s3Address, splitTarget } from '../../../server/request-target.js';
import { authorizeDeleteObjectsKey, deleteObjectsKeyPermission, operationOf, permissionsOf, route, S3_OPERATIONS, type ListQuery, type S3Endpoint } from '../../../server/s3/router.js';
import { S3Error, s3ErrorOf } from '../../../server/s3/errors.js';
import { ObjectError } from '../../../server/objects/index.js';

const DOMAIN = 's3.amazonaws.com';
const B = 'amzn-s3-demo-bucket';
const API = 'https://docs.aws.amazon.com/AmazonS3/latest/API';

/** The endpoint expected, without its bucket (the row's bucket, B, in both styles). */
type Expected = { op: S3Endpoint['op'] } & Record<string, unknown>;

interface Row {
  /** Where the request line is from. */
  doc: string;
  method: string;
  /** The target of a virtual-hosted style request (path and query, as sent). */
  target: string;
  /** x-amz-copy-source, signed. */
  copySource?: string;
  /** The endpoint, or the error parsing the request answers. */
  ep: Expected | { error: string; message: string };
  /** The permissions, `action resource`. */
  permissions: string[];
  /** What the router names before authentication (when x-amz-copy-source is not yet trusted), when it differs. */
  unsigned?: S3Endpoint['op'];
}

/** A listing's parameters: the defaults, and what the row sets. */
const L = (p: Partial<ListQuery> = {}): ListQuery => ({ prefix: '', delimiter: undefined, maxKeys: 1000, urlEncode: false, ...p });

const ROWS: Row[] = [
  // Buckets
  { doc: `${API}/API_CreateBucket.html`, method: 'PUT', target: '/', ep: { op: 'CreateBucket' }, permissions: [`s3:CreateBucket ${B}`] },
  { doc: `${API}/API_DeleteBucket.html`, method: 'DELETE', target: '/', ep: { op: 'DeleteBucket' }, permissions: [`s3:DeleteBucket ${B}`] },
  { doc: `${API}/API_HeadBucket.html`, method: 'HEAD', target: '/', ep: { op: 'HeadBucket' }, permissions: [`s3:ListBucket ${B}`] },
  { doc: `${API}/API_GetBucketLocation.html`, method: 'GET', target: '/?location', ep: { op: 'GetBucketLocation' }, permissions: [`s3:GetBucketLocation ${B}`] },
  { doc: `${API}/API_GetBucketVersioning.html`, method: 'GET', target: '/?versioning', ep: { op: 'GetBucketVersioning' }, permissions: [`s3:GetBucketVersioning ${B}`] },
  // Listings
  { doc: `${API}/API_ListObjects.html`, method: 'GET', target: '/', ep: { op: 'ListObjects', list: L(), marker: '' }, permissions: [`s3:ListBucket ${B}`] },
  { doc: `${API}/API_ListObjects.html`, method: 'GET', target: '/?prefix=N&marker=Ned&max-keys=40', ep: { op: 'ListObjects', list: L({ prefix: 'N', maxKeys: 40 }), marker: 'Ned' }, permissions: [`s3:ListBucket ${B}`] },
  { doc: `${API}/API_ListObjects.html`, method: 'GET', target: '/?delimiter=/', ep: { op: 'ListObjects', list: L({ delimiter: '/' }), marker: '' }, permissions: [`s3:ListBucket ${B}`] },
  { doc: `${API}/API_ListObjects.html`, method: 'GET', target: '/?prefix=photos/2006/&delimiter=/', ep: { op: 'ListObjects', list: L({ prefix: 'photos/2006/', delimiter: '/' }), marker: '' }, permissions: [`s3:ListBucket ${B}`] },
  { doc: `${API}/API_ListObjectsV2.html`, method: 'GET', target: '/?list-type=2', ep: { op: 'ListObjectsV2', list: L(), fetchOwner: false }, permissions: [`s3:ListBucket ${B}`] },
  { doc: `${API}/API_ListObjectsV2.html`, method: 'GET', target: '/?list-type=2&max-keys=3&prefix=E&start-after=ExampleGuide.pdf', ep: { op: 'ListObjectsV2', list: L({ maxKeys: 3, prefix: 'E' }), fetchOwner: false, startAfter: 'ExampleGuide.pdf' }, permissions: [`s3:ListBucket ${B}`] },
  { doc: `${API}/API_ListObjectsV2.html`, method: 'GET', target: '/?list-type=2&delimiter=/', ep: { op: 'ListObjectsV2', list: L({ delimiter: '/' }), fetchOwner: false }, permissions: [`s3:ListBucket ${B}`] },
  { doc: `${API}/API_ListObjectsV2.html`, method: 'GET', target: '/?list-type=2&prefix=photos/2006/&delimiter=/', ep: { op: 'ListObjectsV2', list: L({ prefix: 'photos/2006/', delimiter: '/' }), fetchOwner: false }, permissions: [`s3:ListBucket ${B}`] },
  // S3's continuation token is S3's own: ours are base64url of the key (list.ts), so this one is refused.
  {
    doc: `${API}/API_ListObjectsV2.html`, method: 'GET', target: '/?list-type=2&continuation-token=1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=',
    ep: { error: 'InvalidArgument', message: 'The continuation token provided is incorrect' }, permissions: [], unsigned: 'ListObjectsV2',
  },
  { doc: `${API}/API_ListObjectVersions.html`, method: 'GET', target: '/?versions', ep: { op: 'ListObjectVersions', list: L(), keyMarker: '' }, permissions: [`s3:ListBucketVersions ${B}`] },
  { doc: `${API}/API_ListObjectVersions.html`, method: 'GET', target: '/?versions&key-marker=key2', ep: { op: 'ListObjectVersions', list: L(), keyMarker: 'key2' }, permissions: [`s3:ListBucketVersions ${B}`] },
  { doc: `${API}/API_ListObjectVersions.html`, method: 'GET', target: '/?versions&key-marker=key3&version-id-marker=t46ZenlYTZBnj', ep: { op: 'ListObjectVersions', list: L(), keyMarker: 'key3' }, permissions: [`s3:ListBucketVersions ${B}`] },
  { doc: `${API}/API_ListObjectVersions.html`, method: 'GET', target: '/?versions&prefix=photos/2006/&delimiter=/', ep: { op: 'ListObjectVersions', list: L({ prefix: 'photos/2006/', delimiter: '/' }), keyMarker: '' }, permissions: [`s3:ListBucketVersions ${B}`] },
  { doc: `${API}/API_ListMultipartUploads.html`, method: 'GET', target: '/?uploads&max-uploads=3', ep: { op: 'ListMultipartUploads', prefix: '' }, permissions: [`s3:ListBucketMultipartUploads ${B}`] },
  { doc: `${API}/API_ListMultipartUploads.html`, method: 'GET', target: '/?uploads&delimiter=/', ep: { op: 'ListMultipartUploads', prefix: '' }, permissions: [`s3:ListBucketMultipartUploads ${B}`] },
  { doc: `${API}/API_ListMultipartUploads.html`, method: 'GET', target: '/?uploads&delimiter=/&prefix=photos/2006/', ep: { op: 'ListMultipartUploads', prefix: 'photos/2006/' }, permissions: [`s3:ListBucketMultipartUploads ${B}`] },
  // Objects
  { doc: `${API}/API_PutObject.html`, method: 'PUT', target: '/my-image.jpg', ep: { op: 'PutObject', key: 'my-image.jpg' }, permissions: [`s3:PutObject ${B}/my-image.jpg`] },
  { doc: `${API}/API_PutObject.html`, method: 'PUT', target: '/Key+', ep: { op: 'PutObject', key: 'Key+' }, permissions: [`s3:PutObject ${B}/Key+`] },
  { doc: `${API}/API_GetObject.html`, method: 'GET', target: '/my-image.jpg', ep: { op: 'GetObject', key: 'my-image.jpg' }, permissions: [`s3:GetObject ${B}/my-image.jpg`] },
  { doc: `${API}/API_GetObject.html`, method: 'GET', target: '/myObject?versionId=3/L4kqtJlcpXroDTDmpUMLUo', ep: { op: 'GetObject', key: 'myObject' }, permissions: [`s3:GetObject ${B}/myObject`] },
  {
    doc: `${API}/API_GetObject.html`, method: 'GET',
    target: '/Junk3.txt?response-cache-control=No-cache&response-content-disposition=attachment%3B%20filename%3Dtesting.txt&response-content-encoding=x-gzip&response-content-language=mi%2C%20en&response-expires=Thu%2C%2001%20Dec%201994%2016:00:00%20GMT',
    ep: { op: 'GetObject', key: 'Junk3.txt' }, permissions: [`s3:GetObject ${B}/Junk3.txt`],
  },
  { doc: `${API}/API_HeadObject.html`, method: 'HEAD', target: '/my-image.jpg', ep: { op: 'HeadObject', key: 'my-image.jpg' }, permissions: [`s3:GetObject ${B}/my-image.jpg`] },
  { doc: `${API}/API_HeadObject.html`, method: 'HEAD', target: '/my-image.jpg?versionId=3HL4kqCxf3vjVBH40Nrjfkd', ep: { op: 'HeadObject', key: 'my-image.jpg' }, permissions: [`s3:GetObject ${B}/my-image.jpg`] },
  { doc: `${API}/API_DeleteObject.html`, method: 'DELETE', target: '/my-second-image.jpg', ep: { op: 'DeleteObject', key: 'my-second-image.jpg' }, permissions: [`s3:DeleteObject ${B}/my-second-image.jpg`] },
  {
    doc: `${API}/API_DeleteObject.html`, method: 'DELETE', target: '/my-third-image.jpg?versionId=UIORUnfndfiufdisojhr398493jfdkjFJjkndnqUifhnw89493jJFJ',
    ep: { op: 'DeleteObject', key: 'my-third-image.jpg' }, permissions: [`s3:DeleteObject ${B}/my-third-image.jpg`],
  },
  // DeleteObjects needs s3:DeleteObject on each key of its body: checked by its handler (see below).
  { doc: `${API}/API_DeleteObjects.html`, method: 'POST', target: '/?delete', ep: { op: 'DeleteObjects' }, permissions: [] },
  // A browser-based upload: the form's policy authenticates it, then it needs s3:PutObject.
  { doc: `${API}/RESTObjectPOST.html`, method: 'POST', target: '/', ep: { op: 'PostObject' }, permissions: [`s3:PutObject ${B}`] },
  {
    doc: `${API}/API_CopyObject.html`, method: 'PUT', target: '/my-second-image.jpg', copySource: `/${B}/my-image.jpg`,
    ep: { op: 'CopyObject', key: 'my-second-image.jpg', copySource: { bucket: B, key: 'my-image.jpg' } },
    permissions: [`s3:PutObject ${B}/my-second-image.jpg`, `s3:GetObject ${B}/my-image.jpg`], unsigned: 'PutObject',
  },
  {
    doc: `${API}/API_CopyObject.html`, method: 'PUT', target: '/my-second-image.jpg', copySource: 'source-bucket/photos/my%20image.jpg?versionId=null',
    ep: { op: 'CopyObject', key: 'my-second-image.jpg', copySource: { bucket: 'source-bucket', key: 'photos/my image.jpg' } },
    permissions: [`s3:PutObject ${B}/my-second-image.jpg`, 's3:GetObject source-bucket/photos/my image.jpg'], unsigned: 'PutObject',
  },
  // Multipart uploads
  { doc: `${API}/API_CreateMultipartUpload.html`, method: 'POST', target: '/example-object?uploads', ep: { op: 'CreateMultipartUpload', key: 'example-object' }, permissions: [`s3:PutObject ${B}/example-object`] },
  {
    doc: `${API}/API_UploadPart.html`, method: 'PUT', target: '/my-movie.m2ts?partNumber=1&uploadId=VCVsb2FkIElEIGZvciBlbZZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZR',
    ep: { op: 'UploadPart', key: 'my-movie.m2ts', uploadId: 'VCVsb2FkIElEIGZvciBlbZZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZR', partNumber: 1 },
    permissions: [`s3:PutObject ${B}/my-movie.m2ts`],
  },
  {
    doc: `${API}/API_UploadPart.html`, method: 'PUT', target: '/Key+?partNumber=2&uploadId=UploadId',
    ep: { op: 'UploadPart', key: 'Key+', uploadId: 'UploadId', partNumber: 2 }, permissions: [`s3:PutObject ${B}/Key+`],
  },
  {
    doc: `${API}/API_UploadPartCopy.html`, method: 'PUT', target: '/newobject?partNumber=2&uploadId=VCVsb2FkIElEIGZvciBlbZZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZR',
    copySource: '/source-bucket/sourceobject',
    ep: { op: 'UploadPartCopy', key: 'newobject', uploadId: 'VCVsb2FkIElEIGZvciBlbZZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZR', partNumber: 2, copySource: { bucket: 'source-bucket', key: 'sourceobject' } },
    permissions: [`s3:PutObject ${B}/newobject`, 's3:GetObject source-bucket/sourceobject'], unsigned: 'UploadPart',
  },
  {
    doc: `${API}/API_CompleteMultipartUpload.html`, method: 'POST', target: '/example-object?uploadId=AAAsb2FkIElEIGZvciBlbHZpbmcncyWeeS1tb3ZpZS5tMnRzIRRwbG9hZA',
    ep: { op: 'CompleteMultipartUpload', key: 'example-object', uploadId: 'AAAsb2FkIElEIGZvciBlbHZpbmcncyWeeS1tb3ZpZS5tMnRzIRRwbG9hZA' },
    permissions: [`s3:PutObject ${B}/example-object`],
  },
  {
    doc: `${API}/API_AbortMultipartUpload.html`, method: 'DELETE', target: '/example-object?uploadId=VXBsb2FkIElEIGZvciBlbHZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZ',
    ep: { op: 'AbortMultipartUpload', key: 'example-object', uploadId: 'VXBsb2FkIElEIGZvciBlbHZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZ' },
    permissions: [`s3:AbortMultipartUpload ${B}/example-object`],
  },
  {
    doc: `${API}/API_ListParts.html`, method: 'GET', target: '/example-object?uploadId=XXBsb2FkIElEIGZvciBlbHZpbmcncyVcdS1tb3ZpZS5tMnRzEEEwbG9hZA&max-parts=2&part-number-marker=1',
    ep: { op: 'ListParts', key: 'example-object', uploadId: 'XXBsb2FkIElEIGZvciBlbHZpbmcncyVcdS1tb3ZpZS5tMnRzEEEwbG9hZA', partNumberMarker: 1, maxParts: 2 },
    permissions: [`s3:ListMultipartUploadParts ${B}/example-object`],
  },
  // Sub-resources we do not implement: NotImplemented, with no permission asked for.
  { doc: `${API}/API_GetBucketAcl.html`, method: 'GET', target: '/?acl', ep: { op: 'NotImplemented', what: 'the ?acl sub-resource' }, permissions: [] },
  { doc: `${API}/API_PutBucketVersioning.html`, method: 'PUT', target: '/?versioning', ep: { op: 'NotImplemented', what: 'bucket versioning' }, permissions: [] },
  { doc: `${API}/API_DeleteBucketCors.html`, method: 'DELETE', target: '/?cors', ep: { op: 'NotImplemented', what: 'the ?cors sub-resource' }, permissions: [] },
  { doc: `${API}/API_GetObjectLockConfiguration.html`, method: 'GET', target: '/?object-lock', ep: { op: 'NotImplemented', what: 'the ?object-lock sub-resource' }, permissions: [] },
  { doc: `${API}/API_GetBucketMetricsConfiguration.html`, method: 'GET', target: '/?metrics&id=Documents', ep: { op: 'NotImplemented', what: 'the ?metrics sub-resource' }, permissions: [] },
  { doc: `${API}/API_GetObjectAcl.html`, method: 'GET', target: '/my-image.jpg?versionId=3/L4kqtJlcpXroDVBH40Nr8X8gdRQBpUMLUo&acl', ep: { op: 'NotImplemented', what: 'the ?acl sub-resource' }, permissions: [] },
  { doc: `${API}/API_GetObjectTorrent.html`, method: 'GET', target: '/quotes/Nelson?torrent', ep: { op: 'NotImplemented', what: 'the ?torrent sub-resource' }, permissions: [] },
  { doc: `${API}/API_PutObjectTagging.html`, method: 'PUT', target: '/object-key?tagging', ep: { op: 'NotImplemented', what: 'the ?tagging sub-resource' }, permissions: [] },
  { doc: `${API}/API_RestoreObject.html`, method: 'POST', target: '/object-one.csv?restore', ep: { op: 'NotImplemented', what: 'the ?restore sub-resource' }, permissions: [] },
  { doc: `${API}/API_SelectObjectContent.html`, method: 'POST', target: '/exampleobject.csv?select&select-type=2', ep: { op: 'NotImplemented', what: 'the ?select sub-resource' }, permissions: [] },
];

/** Parses a request as the handler does: split the target, find bucket and key, route. */
function parse(method: string, host: string, target: string, copySource?: string): S3Endpoint {
  const { rawPath, rawQuery } = splitTarget(target);
  const a = s3Address(host, DOMAIN, rawPath);
  assert.ok(a, `${target}: not valid percent-encoding`);
  return route({ method, bucket: a.bucket, key: a.key, query: new URLSearchParams(rawQuery), copySource });
}

/** The two spellings of a row's request: virtual-hosted style and path style. */
function styles(target: string): Array<{ style: string; host: string; target: string }> {
  const path = target.startsWith('/?') || target === '/' ? `/${B}${target.slice(1)}` : `/${B}${target}`;
  return [
    { style: 'virtual-hosted', host: `${B}.${DOMAIN}`, target },
    { style: 'path', host: DOMAIN, target: path },
  ];
}

function permissions(ep: S3Endpoint): string[] {
  return permissionsOf(ep).map((p) => `${p.action} ${p.key === undefined ? p.bucket : `${p.bucket}/${p.key}`}`);
}

function expected(e: Expected): S3Endpoint {
  return (e.op === 'NotImplemented' ? e : { bucket: B, ...e }) as S3Endpoint;
}

function rejects(f: () => unknown, code: string, message?: string): void {
  assert.throws(f, (thrown: unknown) => {
    // As the handler answers it: the object layer's refusals (a reserved bucket name) are
    // ObjectErrors that s3ErrorOf translates; the router's own are S3Errors already.
    assert.ok(thrown instanceof S3Error || thrown instanceof ObjectError, String(thrown));
    const e = s3ErrorOf(thrown);
    assert.equal(e.code, code);
    if (message !== undefined) assert.equal(e.message, message);
    return true;
  });
}

describe('S3 router: the request lines of AWS\'s documentation, path and virtual-hosted style (issue 15)', () => {
  for (const row of ROWS) {
    for (const s of styles(row.target)) {
      const e = row.ep;
      it(`${row.method} ${s.target} (${s.style}${row.copySource !== undefined ? `, x-amz-copy-source: ${row.copySource}` : ''}) is ${'op' in e ? e.op : e.error}; ${row.doc}`, () => {
        if ('op' in e) {
          const ep = parse(row.method, s.host, s.target, row.copySource);
          assert.deepEqual(ep, expected(e));
          assert.deepEqual(permissions(ep), row.permissions);
        } else {
          rejects(() => parse(row.method, s.host, s.target, row.copySource), e.error, e.message);
        }
        // Before authentication the copy source is not trusted: the operation named then.
        const { rawPath, rawQuery } = splitTarget(s.target);
        const a = s3Address(s.host, DOMAIN, rawPath)!;
        assert.equal(operationOf(row.method, a.bucket, a.key, new URLSearchParams(rawQuery)), row.unsigned ?? ('op' in e ? e.op : undefined));
      });
    }
  }

  it(`GET / on the service is ListBuckets, s3:ListAllMyBuckets; ${API}/API_ListBuckets.html`, () => {
    for (const host of [DOMAIN, `${DOMAIN}:443`, 'S3.AmazonAWS.com']) {
      const ep = parse('GET', host, '/');
      assert.deepEqual(ep, { op: 'ListBuckets' });
      assert.deepEqual(permissions(ep), ['s3:ListAllMyBuckets *']);
    }
    assert.deepEqual(parse('PUT', DOMAIN, '/'), { op: 'NotImplemented', what: 'PUT on the service' });
  });

  it('DeleteObjects is checked key by key: s3:DeleteObject on each key of its body', () => {
    assert.deepEqual(deleteObjectsKeyPermission(B, 'photos/2006/a.jpg'), { action: 's3:DeleteObject', bucket: B, key: 'photos/2006/a.jpg' });
    authorizeDeleteObjectsKey({ accessKeyId: 'AKIAIOSFODNN7EXAMPLE' }, B, 'photos/2006/a.jpg');
    assert.throws(() => authorizeDeleteObjectsKey({ accessKeyId: '' }, B, 'photos/2006/a.jpg'), (e: unknown) => {
      assert.equal((e as { code?: string }).code, 'AccessDenied');
      assert.match((e as Error).message, /s3:DeleteObject on amzn-s3-demo-bucket\/photos\/2006\/a\.jpg/);
      return true;
    });
  });

  it('a part number that is not an integer from 1 to 10000 is InvalidArgument, when the request is parsed', () => {
    const message = 'Part number must be an integer between 1 and 10000, inclusive';
    for (const n of ['0', '10001', '-1', '1.5', 'abc', '', 'NaN', 'Infinity']) {
      for (const s of styles(`/my-movie.m2ts?partNumber=${n}&uploadId=UploadId`)) {
        rejects(() => parse('PUT', s.host, s.target), 'InvalidArgument', message);
        rejects(() => parse('PUT', s.host, s.target, '/source-bucket/sourceobject'), 'InvalidArgument', message);
        // The operation is still named (for the metrics), without parsing.
        const { rawPath, rawQuery } = splitTarget(s.target);
        const a = s3Address(s.host, DOMAIN, rawPath)!;
        assert.equal(operationOf('PUT', a.bucket, a.key, new URLSearchParams(rawQuery)), 'UploadPart');
      }
    }
    for (const n of [1, 10000]) {
      const ep = parse('PUT', DOMAIN, `/${B}/k?partNumber=${n}&uploadId=UploadId`);
      assert.equal(ep.op === 'UploadPart' && ep.partNumber, n);
    }
  });

  it('a copy source that names no object, or a bucket no request may name, is refused when the request is parsed', () => {
    for (const [source, code] of [
      ['', 'InvalidArgument'], ['/', 'InvalidArgument'], ['source-bucket', 'InvalidArgument'], ['source-bucket/', 'InvalidArgument'],
      ['/source-bucket/%E0%A4%A', 'InvalidArgument'], ['/source-bucket/k?versionId=3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY', 'InvalidArgument'],
      ['/.dht2/uploads/x', 'InvalidBucketName'], ['/%2Edht2/uploads/x', 'InvalidBucketName'],
    ] as const) {
      for (const s of styles('/my-second-image.jpg')) rejects(() => parse('PUT', s.host, s.target, source), code);
      for (const s of styles('/newobject?partNumber=2&uploadId=UploadId')) rejects(() => parse('PUT', s.host, s.target, source), code);
    }
  });

  it('listing parameters are parsed once: encoding-type, fetch-owner, our continuation tokens; bad ones are InvalidArgument', () => {
    const token = Buffer.from('photos/2006/b.jpg', 'utf8').toString('base64url');
    assert.deepEqual(parse('GET', `${B}.${DOMAIN}`, `/?list-type=2&encoding-type=url&fetch-owner=true&max-keys=5000&delimiter=&continuation-token=${token}`), {
      op: 'ListObjectsV2', bucket: B, list: L({ urlEncode: true }), fetchOwner: true, continuationToken: { token, key: 'photos/2006/b.jpg' },
    });
    assert.deepEqual(parse('GET', DOMAIN, `/${B}/k?uploadId=U&max-parts=x&part-number-marker=`), {
      op: 'ListParts', bucket: B, key: 'k', uploadId: 'U', partNumberMarker: 0, maxParts: 1000,
    });
    for (const target of ['/?max-keys=-1', '/?list-type=2&max-keys=1.5', '/?versions&max-keys=', '/?encoding-type=xml', '/?list-type=2&continuation-token=']) {
      for (const s of styles(target)) rejects(() => parse('GET', s.host, s.target), 'InvalidArgument');
    }
  });

  it('methods S3 has no operation for are NotImplemented', () => {
    assert.deepEqual(parse('PATCH', `${B}.${DOMAIN}`, '/'), { op: 'NotImplemented', what: 'PATCH on a bucket' });
    assert.deepEqual(parse('PATCH', DOMAIN, `/${B}/k`), { op: 'NotImplemented', what: 'PATCH on an object' });
    assert.deepEqual(parse('POST', DOMAIN, `/${B}/k`), { op: 'NotImplemented', what: 'POST on an object' });
  });

  it('every operation the table names is in S3_OPERATIONS, and every one but ListBuckets is in the table', () => {
    const named = new Set(ROWS.flatMap((r) => ('op' in r.ep ? [r.ep.op] : [])));
    for (const op of named) assert.ok((S3_OPERATIONS as readonly string[]).includes(op), op);
    assert.deepEqual(S3_OPERATIONS.filter((op) => !named.has(op)), ['ListBuckets']);
  });
});

describe('request-target: the one split of S3 targets into bucket and key', () => {
  it('splits path and query at the first "?", neither decoded', () => {
    assert.deepEqual(splitTarget('/b/k%20?x=1?y'), { rawPath: '/b/k%20', rawQuery: 'x=1?y' });
    assert.deepEqual(splitTarget('/b/k'), { rawPath: '/b/k', rawQuery: '' });
  });

  it('decodes bucket and key, keeps the key literal ("+", "//", ".."), and tells a bucket from its root', () => {
    assert.deepEqual(s3Address(DOMAIN, DOMAIN, '/b/a+b//c/../d%2Fe'), { bucket: 'b', key: 'a+b//c/../d/e' });
    assert.deepEqual(s3Address(DOMAIN, DOMAIN, '/b'), { bucket: 'b' });
    assert.deepEqual(s3Address(DOMAIN, DOMAIN, '/b/'), { bucket: 'b', key: '' });
    assert.deepEqual(s3Address(DOMAIN, DOMAIN, '/'), {});
    assert.deepEqual(s3Address(undefined, undefined, '/b/k'), { bucket: 'b', key: 'k' });
    assert.deepEqual(s3Address(`B.${DOMAIN.toUpperCase()}:9000`, DOMAIN, '/a/b'), { vhost: 'b', bucket: 'b', key: 'a/b' });
    assert.deepEqual(s3Address(`b.${DOMAIN}`, DOMAIN, '/'), { vhost: 'b', bucket: 'b' });
    assert.deepEqual(s3Address(`b.${DOMAIN}`, undefined, '/x/k'), { bucket: 'x', key: 'k' });
    assert.deepEqual(s3Address(`b.other.com`, DOMAIN, '/x/k'), { bucket: 'x', key: 'k' });
  });

  it('is undefined for a path that is not valid percent-encoding', () => {
    assert.equal(s3Address(DOMAIN, DOMAIN, '/b/%E0%A4%A'), undefined);
    assert.equal(s3Address(DOMAIN, DOMAIN, '/%ZZ'), undefined);
    assert.equal(s3Address(`b.${DOMAIN}`, DOMAIN, '/%'), undefined);
  });
});
