import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import {
  S3AuthError,
  checksumBase64,
  contentMd5Verifier,
  payloadVerifier,
  type ChecksumAlgorithm,
  type PayloadMode,
} from '../../../server/auth/index.js';
import {
  buildChunked,
  deriveKey,
  expectOk,
  expectStreamError,
  sha256Hex,
  splitCycle,
  splitRandom,
  testData,
  type ChunkSigner,
} from './helpers.js';

const AWKWARD_SPLITS: ReadonlyArray<readonly number[]> = [[1], [2], [3, 5, 7], [13], [64 * 1024], [1000, 1, 1, 2]];

/** Every way we feed a body: whole, byte by byte, odd sizes, pseudo-random. */
function feeds(body: Buffer): Buffer[][] {
  const out: Buffer[][] = [[body]];
  for (const s of AWKWARD_SPLITS) out.push(splitCycle(body, s));
  for (const seed of [1, 2, 3]) out.push(splitRandom(body, seed));
  return out;
}

const DOC_SIGNER: ChunkSigner = {
  signingKey: deriveKey('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', '20130524', 'us-east-1'),
  amzDate: '20130524T000000Z',
  scope: '20130524/us-east-1/s3/aws4_request',
  seedSignature: '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9',
};
const DOC_DATA = Buffer.alloc(66560, 'a');

function signedMode(s: ChunkSigner, trailer = false): PayloadMode {
  return { kind: trailer ? 'streaming-signed-trailer' : 'streaming-signed', ...s };
}

const SIGNER: ChunkSigner = {
  signingKey: deriveKey('secret+key/with spaces', '20240102', 'eu-west-1'),
  amzDate: '20240102T030405Z',
  scope: '20240102/eu-west-1/s3/aws4_request',
  seedSignature: 'a'.repeat(64),
};

describe('auth/payload: sha256 and unsigned bodies', () => {
  const data = testData(100_003);

  it('passes a body whose sha256 matches, however it is split', async () => {
    for (const pieces of feeds(data)) {
      const { stream, decodedLength } = payloadVerifier({ kind: 'sha256', hex: sha256Hex(data) }, { 'content-length': String(data.length) });
      assert.equal(decodedLength, data.length);
      await expectOk(stream, pieces, data);
    }
  });

  it('fails with XAmzContentSHA256Mismatch at the end, never emitting end', async () => {
    const { stream } = payloadVerifier({ kind: 'sha256', hex: sha256Hex('something else') }, {});
    const err = await expectStreamError(stream, splitCycle(data, [4096]), 'XAmzContentSHA256Mismatch');
    assert.equal(err.details.S3ComputedContentSHA256, sha256Hex(data));
  });

  it('passes the empty body', async () => {
    await expectOk(payloadVerifier({ kind: 'sha256', hex: sha256Hex('') }, {}).stream, [], Buffer.alloc(0));
    await expectOk(payloadVerifier({ kind: 'unsigned' }, {}).stream, [], Buffer.alloc(0));
  });

  it('passes an unsigned body through untouched', async () => {
    await expectOk(payloadVerifier({ kind: 'unsigned' }, {}).stream, splitRandom(data, 9), data);
  });

  describe('x-amz-checksum-<alg> header', () => {
    const known: Array<[ChecksumAlgorithm, string]> = [
      // Independent reference values for "hello world".
      ['crc32', 'DUoRhQ=='],
      ['crc32c', 'yZRlqg=='],
      ['sha1', createHash('sha1').update('hello world').digest('base64')],
      ['sha256', createHash('sha256').update('hello world').digest('base64')],
    ];
    for (const [alg, value] of known) {
      it(`${alg}: reference value of "hello world"`, async () => {
        assert.equal(await checksumBase64(alg, Buffer.from('hello world')), value);
      });
    }

    for (const alg of ['crc32', 'crc32c', 'crc64nvme', 'sha1', 'sha256'] as const) {
      it(`${alg}: verified with a sha256 payload (BadDigest on mismatch)`, async () => {
        const good = await checksumBase64(alg, data);
        const mode: PayloadMode = { kind: 'sha256', hex: sha256Hex(data) };
        const ok = payloadVerifier(mode, { [`x-amz-checksum-${alg}`]: good });
        await expectOk(ok.stream, splitRandom(data, 4), data);
        assert.equal(ok.stream.checksums[alg], good);
        const bad = await checksumBase64(alg, Buffer.from('other'));
        await expectStreamError(payloadVerifier(mode, { [`x-amz-checksum-${alg}`]: bad }).stream, [data], 'BadDigest');
        await expectStreamError(payloadVerifier({ kind: 'unsigned' }, { [`x-amz-checksum-${alg}`]: bad }).stream, [data], 'BadDigest');
      });
    }

    it('CRC catalogue check values of "123456789" (CRC-32, CRC-32C, CRC-64/NVME), big-endian', async () => {
      const hex = async (alg: ChecksumAlgorithm): Promise<string> => Buffer.from(await checksumBase64(alg, Buffer.from('123456789')), 'base64').toString('hex');
      assert.equal(await hex('crc32'), 'cbf43926');
      assert.equal(await hex('crc32c'), 'e3069283');
      assert.equal(await hex('crc64nvme'), 'ae8b14860a799888');
    });

    it('rejects malformed values and several checksum headers up front (InvalidRequest)', () => {
      const throwsCode = (fn: () => unknown, code: string): void => {
        assert.throws(fn, (e: unknown) => e instanceof S3AuthError && e.code === code);
      };
      throwsCode(() => payloadVerifier({ kind: 'unsigned' }, { 'x-amz-checksum-crc32': 'not base64!' }), 'InvalidRequest');
      throwsCode(() => payloadVerifier({ kind: 'unsigned' }, { 'x-amz-checksum-crc32': 'AAAAAAAA' }), 'InvalidRequest');
      throwsCode(() => payloadVerifier({ kind: 'unsigned' }, { 'x-amz-checksum-crc32': 'DUoRhQ==', 'x-amz-checksum-sha1': 'L' }), 'InvalidRequest');
      // Other x-amz-checksum-* headers (type, mode, algorithm) are not checksums.
      assert.ok(payloadVerifier({ kind: 'unsigned' }, { 'x-amz-checksum-type': 'FULL_OBJECT', 'x-amz-checksum-algorithm': 'CRC32' }).stream);
    });
  });
});

describe('auth/payload: STREAMING-AWS4-HMAC-SHA256-PAYLOAD', () => {
  const docBody = (): Buffer => buildChunked(DOC_DATA, { chunkSize: 65536, signer: DOC_SIGNER });

  it('our builder reproduces the AWS example chunk signatures', () => {
    const text = docBody().toString('latin1');
    for (const sig of [
      'ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648',
      '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497',
      'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9',
    ]) assert.ok(text.includes(`;chunk-signature=${sig}\r\n`), sig);
    assert.equal(docBody().length, 66824); // the example's Content-Length
  });

  it('decodes the AWS example however it is split', async () => {
    const body = docBody();
    for (const pieces of feeds(body)) {
      const { stream, decodedLength } = payloadVerifier(signedMode(DOC_SIGNER), { 'x-amz-decoded-content-length': '66560' });
      assert.equal(decodedLength, 66560);
      await expectOk(stream, pieces, DOC_DATA);
    }
  });

  it('decodes bodies of many sizes and chunk sizes', async () => {
    for (const [size, chunk] of [[0, 8192], [1, 8192], [8192, 8192], [8193, 8192], [100_000, 17], [300_000, 65536]] as const) {
      const data = testData(size, size + 1);
      const body = buildChunked(data, { chunkSize: chunk, signer: SIGNER });
      await expectOk(payloadVerifier(signedMode(SIGNER), { 'x-amz-decoded-content-length': String(size) }).stream, splitRandom(body, size + 5, 4099), data);
    }
  });

  describe('failures', () => {
    const data = testData(40_000);
    const body = (): Buffer => buildChunked(data, { chunkSize: 10_000, signer: SIGNER });
    const mode = signedMode(SIGNER);
    const headers = { 'x-amz-decoded-content-length': String(data.length) };

    it('a flipped data byte -> SignatureDoesNotMatch', async () => {
      const b = body();
      const i = b.indexOf('\r\n') + 2 + 12_345 % 10_000;
      b[i] = b[i]! ^ 1;
      await expectStreamError(payloadVerifier(mode, headers).stream, splitRandom(b, 5), 'SignatureDoesNotMatch');
    });

    it('a wrong chunk signature (any chunk, including the final one) -> SignatureDoesNotMatch', async () => {
      for (const idx of [0, 2, 4]) {
        const b = buildChunked(data, { chunkSize: 10_000, signer: SIGNER, mangleSignature: (i, s) => (i === idx ? s.replace(/^./, (c) => (c === '0' ? '1' : '0')) : s) });
        await expectStreamError(payloadVerifier(mode, headers).stream, [b], 'SignatureDoesNotMatch');
      }
    });

    it('a wrong seed (another request\'s signature) -> SignatureDoesNotMatch', async () => {
      await expectStreamError(payloadVerifier({ ...mode, seedSignature: 'b'.repeat(64) } as PayloadMode, headers).stream, [body()], 'SignatureDoesNotMatch');
    });

    it('chunks reordered -> SignatureDoesNotMatch', async () => {
      const chunks = [testData(10_000, 1), testData(10_000, 2)];
      const a = buildChunked(Buffer.concat(chunks), { chunkSize: 10_000, signer: SIGNER });
      const first = a.indexOf('\r\n') + 2 + 10_000 + 2;
      const second = a.indexOf('\r\n', first) + 2 + 10_000 + 2;
      const swapped = Buffer.concat([a.subarray(first, second), a.subarray(0, first), a.subarray(second)]);
      await expectStreamError(payloadVerifier(mode, { 'x-amz-decoded-content-length': '20000' }).stream, [swapped], 'SignatureDoesNotMatch');
    });

    it('truncated bodies -> IncompleteBody', async () => {
      const b = body();
      for (const cut of [0, 5, b.indexOf('\r\n') + 100, b.length - 90, b.length - 2 - 90]) {
        await expectStreamError(payloadVerifier(mode, headers).stream, [b.subarray(0, cut)], 'IncompleteBody');
      }
    });

    it('x-amz-decoded-content-length mismatch -> IncompleteBody', async () => {
      await expectStreamError(payloadVerifier(mode, { 'x-amz-decoded-content-length': String(data.length + 1) }).stream, [body()], 'IncompleteBody');
      await expectStreamError(payloadVerifier(mode, { 'x-amz-decoded-content-length': String(data.length - 1) }).stream, [body()], 'IncompleteBody');
    });

    it('malformed framing -> InvalidRequest', async () => {
      const sig = ';chunk-signature=' + 'c'.repeat(64);
      const cases: Buffer[] = [
        Buffer.from(`zz${sig}\r\nhello\r\n`), // not hex
        Buffer.from(`5${sig}\nhello\r\n`), // LF without CR
        Buffer.from(`5\r\nhello\r\n`), // no chunk-signature
        Buffer.from(`5;chunk-signature=123\r\nhello\r\n`), // short signature
        Buffer.from('1'.repeat(5000)), // endless header line
        Buffer.from(`${'0'.repeat(14)}${sig}\r\n`), // absurd size field
      ];
      for (const c of cases) await expectStreamError(payloadVerifier(mode, {}).stream, [c], 'InvalidRequest');
    });

    it('chunk data not followed by CRLF (size lies) -> SignatureDoesNotMatch signed, InvalidRequest unsigned', async () => {
      const lie = (b: Buffer): Buffer => Buffer.from(b.toString('latin1').replace(/^2710/, '270f'), 'latin1');
      await expectStreamError(payloadVerifier(mode, {}).stream, [lie(body())], 'SignatureDoesNotMatch');
      const unsigned = buildChunked(data, { chunkSize: 10_000, trailers: [] });
      await expectStreamError(payloadVerifier({ kind: 'streaming-unsigned-trailer' }, {}).stream, [lie(unsigned)], 'InvalidRequest');
      const longer = Buffer.from(unsigned.toString('latin1').replace(/^2710/, '2711'), 'latin1');
      await expectStreamError(payloadVerifier({ kind: 'streaming-unsigned-trailer' }, {}).stream, [longer], 'InvalidRequest');
    });

    it('data after the final chunk, or trailers without a trailer mode -> InvalidRequest', async () => {
      await expectStreamError(payloadVerifier(mode, headers).stream, [body(), Buffer.from('garbage')], 'InvalidRequest');
      const withTrailer = Buffer.concat([body().subarray(0, -2), Buffer.from('x-amz-checksum-crc32:AAAAAA==\r\n\r\n')]);
      await expectStreamError(payloadVerifier(mode, headers).stream, [withTrailer], 'InvalidRequest');
    });
  });
});

describe('auth/payload: STREAMING-UNSIGNED-PAYLOAD-TRAILER', () => {
  const data = testData(150_001, 3);

  for (const alg of ['crc32', 'crc32c', 'crc64nvme', 'sha1', 'sha256'] as const) {
    it(`${alg} trailer: verified, however the body is split`, async () => {
      const value = await checksumBase64(alg, data);
      const body = buildChunked(data, { chunkSize: 65536, trailers: [[`x-amz-checksum-${alg}`, value]] });
      for (const pieces of [[body], splitCycle(body, [1]), splitRandom(body, 11), splitCycle(body, [65536 + 7])]) {
        const { stream } = payloadVerifier({ kind: 'streaming-unsigned-trailer' }, { 'x-amz-trailer': `x-amz-checksum-${alg}`, 'x-amz-decoded-content-length': String(data.length) });
        await expectOk(stream, pieces, data);
        assert.equal(stream.checksums[alg], value);
      }
    });
  }

  it('exactly the bytes the AWS SDKs send (SDK v3 getAwsChunkedEncodingStream, botocore AwsChunkedWrapper)', async () => {
    const value = await checksumBase64('crc32', Buffer.from('hello'));
    const body = Buffer.from(`5\r\nhello\r\n0\r\nx-amz-checksum-crc32:${value}\r\n\r\n`);
    await expectOk(payloadVerifier({ kind: 'streaming-unsigned-trailer' }, { 'x-amz-trailer': 'x-amz-checksum-crc32' }).stream, splitCycle(body, [1]), Buffer.from('hello'));
  });

  it('a wrong trailer checksum -> BadDigest', async () => {
    const body = buildChunked(data, { chunkSize: 8192, trailers: [['x-amz-checksum-crc32', await checksumBase64('crc32', Buffer.from('x'))]] });
    await expectStreamError(payloadVerifier({ kind: 'streaming-unsigned-trailer' }, { 'x-amz-trailer': 'x-amz-checksum-crc32' }).stream, [body], 'BadDigest');
  });

  it('a flipped data byte -> BadDigest (the trailer is the only integrity check)', async () => {
    const body = buildChunked(data, { chunkSize: 8192, trailers: [['x-amz-checksum-crc32c', await checksumBase64('crc32c', data)]] });
    body[100] = body[100]! ^ 0x40;
    await expectStreamError(payloadVerifier({ kind: 'streaming-unsigned-trailer' }, { 'x-amz-trailer': 'x-amz-checksum-crc32c' }).stream, [body], 'BadDigest');
  });

  it('declared trailer missing, undeclared or malformed trailer -> InvalidRequest', async () => {
    const value = await checksumBase64('crc32', data);
    const noTrailer = buildChunked(data, { chunkSize: 8192 });
    await expectStreamError(payloadVerifier({ kind: 'streaming-unsigned-trailer' }, { 'x-amz-trailer': 'x-amz-checksum-crc32' }).stream, [noTrailer], 'InvalidRequest');
    const undeclared = buildChunked(data, { chunkSize: 8192, trailers: [['x-amz-checksum-crc32', value]] });
    await expectStreamError(payloadVerifier({ kind: 'streaming-unsigned-trailer' }, {}).stream, [undeclared], 'InvalidRequest');
    const malformed = buildChunked(data, { chunkSize: 8192, trailers: [['x-amz-checksum-crc32', 'zzz']] });
    await expectStreamError(payloadVerifier({ kind: 'streaming-unsigned-trailer' }, { 'x-amz-trailer': 'x-amz-checksum-crc32' }).stream, [malformed], 'InvalidRequest');
    assert.throws(() => payloadVerifier({ kind: 'streaming-unsigned-trailer' }, { 'x-amz-trailer': 'x-amz-meta-foo' }), (e: unknown) => e instanceof S3AuthError && e.code === 'InvalidRequest');
  });

  it('truncation inside the trailer section -> InvalidRequest or IncompleteBody', async () => {
    const body = buildChunked(data, { chunkSize: 8192, trailers: [['x-amz-checksum-crc32', await checksumBase64('crc32', data)]] });
    const cut = body.subarray(0, body.lastIndexOf('x-amz-checksum'));
    await expectStreamError(payloadVerifier({ kind: 'streaming-unsigned-trailer' }, { 'x-amz-trailer': 'x-amz-checksum-crc32' }).stream, [cut], 'InvalidRequest');
    await expectStreamError(payloadVerifier({ kind: 'streaming-unsigned-trailer' }, { 'x-amz-trailer': 'x-amz-checksum-crc32' }).stream, [body.subarray(0, 5000)], 'IncompleteBody');
  });
});

describe('auth/payload: STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', () => {
  const docTrailerSigner: ChunkSigner = { ...DOC_SIGNER, seedSignature: '106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e' };
  const headers = { 'x-amz-trailer': 'x-amz-checksum-crc32c', 'x-amz-decoded-content-length': '66560' };

  it('our builder reproduces the AWS example (chunk and trailer signatures)', async () => {
    assert.equal(await checksumBase64('crc32c', DOC_DATA), 'sOO8/Q==');
    const text = buildChunked(DOC_DATA, { chunkSize: 65536, signer: docTrailerSigner, trailers: [['x-amz-checksum-crc32c', 'sOO8/Q==']] }).toString('latin1');
    for (const sig of [
      'b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2',
      '1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7',
      '2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992',
    ]) assert.ok(text.includes(`;chunk-signature=${sig}\r\n`), sig);
    assert.ok(text.endsWith('x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n'));
  });

  it('decodes the AWS example however it is split, with or without a blank line before the trailers', async () => {
    for (const blankBeforeTrailers of [false, true]) {
      const body = buildChunked(DOC_DATA, { chunkSize: 65536, signer: docTrailerSigner, trailers: [['x-amz-checksum-crc32c', 'sOO8/Q==']], blankBeforeTrailers });
      for (const pieces of feeds(body)) {
        const { stream } = payloadVerifier(signedMode(docTrailerSigner, true), headers);
        await expectOk(stream, pieces, DOC_DATA);
        assert.equal(stream.checksums.crc32c, 'sOO8/Q==');
      }
    }
  });

  it('accepts a trailer section ending at EOF without its final empty line', async () => {
    const body = buildChunked(DOC_DATA, { chunkSize: 65536, signer: docTrailerSigner, trailers: [['x-amz-checksum-crc32c', 'sOO8/Q==']] });
    await expectOk(payloadVerifier(signedMode(docTrailerSigner, true), headers).stream, [body.subarray(0, -2)], DOC_DATA);
    await expectOk(payloadVerifier(signedMode(docTrailerSigner, true), headers).stream, [body.subarray(0, -4)], DOC_DATA);
  });

  it('a tampered trailer value -> SignatureDoesNotMatch (the trailer is signed)', async () => {
    const body = buildChunked(DOC_DATA, { chunkSize: 65536, signer: docTrailerSigner, trailers: [['x-amz-checksum-crc32c', 'sOO8/Q==']] });
    const tampered = Buffer.from(body.toString('latin1').replace('sOO8/Q==', 'sOO8/A=='), 'latin1');
    await expectStreamError(payloadVerifier(signedMode(docTrailerSigner, true), headers).stream, [tampered], 'SignatureDoesNotMatch');
  });

  it('a correctly signed but wrong checksum -> BadDigest', async () => {
    const wrong = await checksumBase64('crc32c', Buffer.from('nope'));
    const body = buildChunked(DOC_DATA, { chunkSize: 65536, signer: docTrailerSigner, trailers: [['x-amz-checksum-crc32c', wrong]] });
    await expectStreamError(payloadVerifier(signedMode(docTrailerSigner, true), headers).stream, [body], 'BadDigest');
  });

  it('a missing trailer signature -> InvalidRequest', async () => {
    const unsignedTrailer = buildChunked(DOC_DATA, { chunkSize: 65536, signer: docTrailerSigner });
    const body = Buffer.concat([unsignedTrailer.subarray(0, -2), Buffer.from('x-amz-checksum-crc32c:sOO8/Q==\r\n\r\n')]);
    await expectStreamError(payloadVerifier(signedMode(docTrailerSigner, true), headers).stream, [body], 'InvalidRequest');
  });

  it('several trailers are signed in sorted canonical form', async () => {
    const data = testData(20_000);
    const sha = await checksumBase64('sha256', data);
    const body = buildChunked(data, { chunkSize: 9000, signer: SIGNER, trailers: [['x-amz-checksum-sha256', sha], ['x-amz-checksum-crc32', await checksumBase64('crc32', data)]] });
    const { stream } = payloadVerifier(signedMode(SIGNER, true), { 'x-amz-trailer': 'x-amz-checksum-sha256,x-amz-checksum-crc32' });
    await expectOk(stream, splitRandom(body, 77), data);
    assert.equal(stream.checksums.sha256, sha);
  });
});

describe('auth/payload: backpressure and bounded memory', () => {
  it('never buffers much more than a highWaterMark plus one input chunk', async () => {
    const data = testData(8 * 1024 * 1024, 5);
    const body = buildChunked(data, { chunkSize: 64 * 1024, signer: SIGNER });
    const { stream } = payloadVerifier(signedMode(SIGNER), { 'x-amz-decoded-content-length': String(data.length) });
    const pieces = splitCycle(body, [64 * 1024]);
    let maxBuffered = 0;
    let sawBackpressure = false;
    const out = createHash('sha256');
    let outLen = 0;
    const done = new Promise<void>((resolve, reject) => {
      stream.on('error', reject);
      stream.on('end', () => resolve());
    });
    // A deliberately slow consumer: one read per macrotask.
    const consume = async (): Promise<void> => {
      for (;;) {
        const chunk = stream.read() as Buffer | null;
        if (chunk !== null) {
          out.update(chunk);
          outLen += chunk.length;
        } else if (stream.readableEnded) return;
        await new Promise((r) => setImmediate(r));
        if (stream.readableEnded && stream.readableLength === 0) return;
      }
    };
    const consumer = consume();
    for (const p of pieces) {
      maxBuffered = Math.max(maxBuffered, stream.readableLength + stream.writableLength);
      if (!stream.write(p)) {
        sawBackpressure = true;
        await new Promise((r) => stream.once('drain', r));
      }
    }
    stream.end();
    await done;
    await consumer;
    assert.ok(sawBackpressure, 'write() should have signalled backpressure');
    assert.ok(maxBuffered <= 512 * 1024, `buffered up to ${maxBuffered} bytes`);
    assert.equal(outLen, data.length);
    assert.equal(out.digest('hex'), sha256Hex(data));
  });
});

describe('auth/payload: contentMd5Verifier', () => {
  const data = testData(70_000);
  const md5 = createHash('md5').update(data).digest('base64');

  it('passes a matching body', async () => {
    await expectOk(contentMd5Verifier(md5), splitRandom(data, 3), data);
  });
  it('mismatch -> BadDigest, without end', async () => {
    await expectStreamError(contentMd5Verifier(createHash('md5').update('x').digest('base64')), [data], 'BadDigest');
  });
  it('malformed -> InvalidDigest immediately', () => {
    for (const bad of ['', 'abc', createHash('md5').update('x').digest('hex'), 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=', md5.slice(0, -2)]) {
      assert.throws(() => contentMd5Verifier(bad), (e: unknown) => e instanceof S3AuthError && e.code === 'InvalidDigest', bad);
    }
  });
  it('works after a chunk decoder (MD5 is over the decoded object)', async () => {
    const body = buildChunked(data, { chunkSize: 8192, signer: SIGNER });
    const parts: Buffer[] = [];
    const sink = new Writable({
      write(c: Buffer, _e, cb) {
        parts.push(c);
        cb();
      },
    });
    await pipeline(Readable.from(splitRandom(body, 8)), payloadVerifier(signedMode(SIGNER), {}).stream, contentMd5Verifier(md5), sink);
    assert.ok(Buffer.concat(parts).equals(data));
    // And pipeline() rejects with the S3AuthError when the MD5 is wrong.
    await assert.rejects(
      pipeline(Readable.from([body]), payloadVerifier(signedMode(SIGNER), {}).stream, contentMd5Verifier(createHash('md5').update('y').digest('base64')), new Writable({ write: (_c, _e, cb) => cb() })),
      (e: unknown) => e instanceof S3AuthError && e.code === 'BadDigest',
    );
  });
});
