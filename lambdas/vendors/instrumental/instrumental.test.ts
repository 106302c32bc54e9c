import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { makeJpeg, makeJpegHeaderOnly, makeMp4 } from '#simulators/media/index.ts';
import type { PendingDelivery, VendorAnswer, VendorContext, VendorRequest } from '../types.ts';
import { INSTRUMENTAL_ASSUMPTIONS } from './assumptions.ts';
import { checkCredentials, classify, instrumental, uploadFilename } from './index.ts';

const fields = {
  serialNumber: 'SN-1',
  stationName: 'AOI-1',
  imageType: 'Top',
  imageTimestamp: { iso8601Time: '2026-01-01T00:00:00.000Z', ianaTimeZone: 'UTC' },
};
const destination = { name: 'd', vendor: 'instrumental', baseUrl: 'http://127.0.0.1:1', options: {} };
/** The pre-flight over a file held in memory (the forwarder reads ranges of the S3 object instead). */
const check = async (key: string, file: Buffer, size = file.length, f: Record<string, unknown> = fields) =>
  instrumental.preflight?.check({
    object: { bucket: 'b', key, etag: 'e', size },
    head: file.subarray(0, instrumental.preflight.headBytes),
    reader: { size, read: async (start, end) => file.subarray(start, end) },
    fields: f as never,
    destination,
  });
const answer = (status: number, text = '', headers: Record<string, string> = {}) =>
  ({ kind: 'answer', status, text, headers }) as const;

describe('Instrumental pre-flight (documented rules, no vendor call)', async () => {
  it('passes a small JPEG and an H.264 MP4', async () => {
    assert.equal(await check('a/b.jpg', makeJpeg({ width: 32, height: 32 })), undefined);
    assert.equal(await check('a/b.JPEG', makeJpeg({ width: 32, height: 32 })), undefined);
    assert.equal(await check('a/b.mp4', makeMp4({ codec: 'avc1' })), undefined);
  });
  it('refuses extensions Instrumental does not take', async () => {
    assert.equal((await check('a/b.png', Buffer.from([0x89, 0x50])))?.code, 'UNSUPPORTED_EXTENSION');
    assert.equal((await check('a/noext', Buffer.from([1])))?.code, 'UNSUPPORTED_EXTENSION');
  });
  it('refuses a .jpg that is not a JPEG', async () => {
    assert.equal((await check('a/b.jpg', Buffer.from('GIF89a....')))?.code, 'NOT_A_JPEG');
  });
  it('refuses files over 50 MB and JSON over 4 MB', async () => {
    const jpeg = makeJpeg({ width: 8, height: 8 });
    assert.equal((await check('a/b.jpg', jpeg, 50 * 1024 * 1024 + 1))?.code, 'FILE_TOO_LARGE');
    assert.equal(await check('a/b.jpg', jpeg, 50 * 1024 * 1024), undefined);
    assert.equal(
      (await check('a/b.jpg', jpeg, jpeg.length, { ...fields, tags: ['x'.repeat(4 * 1024 * 1024)] }))?.code,
      'DATA_TOO_LARGE',
    );
  });
  it('refuses images over 32 MP from the header alone', async () => {
    const err = await check('a/b.jpg', makeJpegHeaderOnly({ width: 8000, height: 6000 }));
    assert.equal(err?.code, 'TOO_MANY_PIXELS');
    assert.match(err?.message ?? '', /8000x6000 is 48\.0 MP/);
    assert.equal(await check('a/b.jpg', makeJpegHeaderOnly({ width: 6528, height: 4896 })), undefined);
  });
  it('refuses the mp4v codec', async () => {
    assert.equal((await check('a/b.mp4', makeMp4({ codec: 'mp4v' })))?.code, 'UNSUPPORTED_CODEC');
  });
  it('refuses empty objects', async () => {
    assert.equal((await check('a/b.jpg', Buffer.alloc(0), 0))?.code, 'EMPTY_FILE');
  });
});

describe('Instrumental answers → outcomes', () => {
  it('200 with fileId is accepted, pending validation', () => {
    assert.deepEqual(classify(answer(200, '{"fileId":"e0Blm7EjlLQ2"}')), {
      kind: 'accepted',
      status: 'PENDING_VALIDATION',
      vendorRef: 'e0Blm7EjlLQ2',
    });
  });
  it('400 {code,msg} is rejected with the vendor code', () => {
    const o = classify(answer(400, '{"code":"INVALID_DATA","msg":"stationName is empty"}'));
    assert.equal(o.kind, 'rejected');
    assert.equal(o.kind === 'rejected' && o.error.vendorCode, 'INVALID_DATA');
    assert.equal(o.kind === 'rejected' && o.error.httpStatus, 400);
  });
  it('400 schema errors are rejected with the reason', () => {
    const o = classify(
      answer(
        400,
        '{"error":"Could not parse request body as the expected JSON format.","reason":"ERROR :: /tags :: expected array"}',
      ),
    );
    assert.equal(o.kind === 'rejected' && o.error.code, 'INVALID_REQUEST_SCHEMA');
    assert.match(o.kind === 'rejected' ? o.error.message : '', /\/tags/);
  });
  it('401 holds the destination, 413 rejects', () => {
    const o = classify(answer(401));
    assert.equal(o.kind, 'hold');
    assert.equal(o.kind === 'hold' && o.error.code, 'AUTH_FAILED');
    assert.equal(classify(answer(413)).kind, 'rejected');
  });
  it('429 and 5xx retry, honouring Retry-After', () => {
    assert.deepEqual(classify(answer(429, '', { 'retry-after': '2' })), {
      kind: 'retry',
      retryAfterMs: 2000,
      error: { code: 'RATE_LIMITED', message: 'Instrumental answered 429', httpStatus: 429 },
    });
    assert.equal(classify(answer(503, 'oops')).kind, 'retry');
  });
  it('a 200 without a fileId is an ambiguous retry: Instrumental took the request and may hold the file', () => {
    for (const text of ['not json', '{}', '{"fileId":""}']) {
      const o = classify(answer(200, text));
      assert.equal(o.kind, 'retry', text);
      assert.equal(o.kind === 'retry' && o.ambiguous, true, text);
      assert.equal(o.kind === 'retry' && o.error.code, 'BAD_VENDOR_RESPONSE', text);
    }
  });
  it('any 2xx with a fileId is accepted (201, 202, 207 are Instrumental taking the file, never REJECTED)', () => {
    for (const status of [201, 202, 207]) {
      assert.deepEqual(classify(answer(status, '{"fileId":"e0Blm7EjlLQ2"}')), {
        kind: 'accepted',
        status: 'PENDING_VALIDATION',
        vendorRef: 'e0Blm7EjlLQ2',
      });
    }
  });
  it('a 2xx without a usable body (204, text) is an ambiguous BAD_VENDOR_RESPONSE, never REJECTED', () => {
    for (const [status, text] of [
      [204, ''],
      [201, 'created'],
    ] as const) {
      const o = classify(answer(status, text));
      assert.equal(o.kind, 'retry', `${status}`);
      assert.equal(o.kind === 'retry' && o.ambiguous, true);
      assert.equal(o.kind === 'retry' && o.error.code, 'BAD_VENDOR_RESPONSE');
      assert.equal(o.kind === 'retry' && o.error.httpStatus, status);
    }
  });
  it('a numeric fileId is the file id as a string (not a retry that uploads the file again)', () => {
    assert.deepEqual(classify(answer(200, '{"fileId":123456}')), {
      kind: 'accepted',
      status: 'PENDING_VALIDATION',
      vendorRef: '123456',
    });
    // Not finite cannot be an id (1e999 parses as Infinity).
    assert.equal(classify(answer(200, '{"fileId":1e999}')).kind, 'retry');
  });
  it('a 3xx holds the destination (ENDPOINT_MOVED, naming Location); the redirect is not followed', () => {
    for (const status of [301, 302, 307, 308]) {
      const o = classify(answer(status, '', { location: 'https://api.instrumental.example/v0' }));
      assert.equal(o.kind, 'hold', `${status}`);
      assert.equal(o.kind === 'hold' && o.error.code, 'ENDPOINT_MOVED');
      assert.match(o.kind === 'hold' ? o.error.message : '', /https:\/\/api\.instrumental\.example\/v0/);
      assert.match(o.kind === 'hold' ? o.error.message : '', /base_url/);
    }
    const bare = classify(answer(304));
    assert.match(bare.kind === 'hold' ? bare.error.message : '', /without a Location/);
  });
  it('408 is an ambiguous retry (Instrumental may have read the whole file before giving up), not REJECTED', () => {
    const o = classify(answer(408, 'Request Timeout'));
    assert.equal(o.kind, 'retry');
    assert.equal(o.kind === 'retry' && o.ambiguous, true);
    assert.equal(o.kind === 'retry' && o.error.code, 'REQUEST_TIMEOUT');
  });
});

/** A context whose vendor answers come from `reply`; every request is kept, with its body read whole. */
function fakeContext(reply: (req: VendorRequest) => VendorAnswer, now: number) {
  const sent: Array<{ req: VendorRequest; body: Buffer }> = [];
  const ctx = {
    destination,
    apiKey: async () => 'INST:V1:ABC123:secret-part',
    throttle: async () => {},
    now: () => now,
    objects: { stream: async () => Readable.from([makeJpeg({ width: 8, height: 8 })]) },
    request: async (req: VendorRequest) => {
      const chunks: Buffer[] = [];
      if (req.body && typeof req.body !== 'string' && !Buffer.isBuffer(req.body))
        for await (const c of req.body) chunks.push(Buffer.from(c as Buffer));
      sent.push({ req, body: Buffer.concat(chunks) });
      return reply(req);
    },
  } as unknown as VendorContext;
  return { ctx, sent };
}

describe('Instrumental file names (the extension rule)', () => {
  it('sends the multipart filename with its extension lower-cased', async () => {
    assert.equal(INSTRUMENTAL_ASSUMPTIONS.lowerCaseExtension, true);
    assert.equal(uploadFilename('line/IMG_0001.JPG'), 'IMG_0001.jpg');
    assert.equal(uploadFilename('line/Clip.WebM'), 'Clip.webm');
    assert.equal(uploadFilename('line/a.b.JPEG'), 'a.b.jpeg');
    assert.equal(uploadFilename('line/ok.jpg'), 'ok.jpg');
    const { ctx, sent } = fakeContext(() => answer(200, '{"fileId":"e0Blm7EjlLQ2"}'), Date.now());
    const job = {
      deliveryId: 'd1',
      destination: 'd',
      object: {
        bucket: 'b',
        key: 'line/IMG_0001.JPG',
        etag: 'e',
        size: makeJpeg({ width: 8, height: 8 }).length,
      },
      fields,
      attempt: 1,
      ambiguousSends: 0,
    };
    const [outcome] = await instrumental.deliver([job], ctx);
    assert.equal(outcome?.kind, 'accepted');
    const body = sent[0]?.body.toString('latin1') ?? '';
    assert.match(body, /name="file"; filename="IMG_0001\.jpg"/);
    assert.doesNotMatch(body, /IMG_0001\.JPG/);
  });
});

describe('Instrumental status checks past the deadline', () => {
  const accepted = Date.parse('2026-01-01T00:00:00Z');
  const item = (vendorRef: string): PendingDelivery => ({
    deliveryId: `d-${vendorRef}`,
    destination: 'd',
    status: 'PENDING_VALIDATION',
    vendorRef,
    object: { bucket: 'b', key: 'a/b.jpg', etag: 'e', size: 1 },
    fields,
    acceptedAt: new Date(accepted).toISOString(),
    pollCount: 3,
  });
  const late = accepted + INSTRUMENTAL_ASSUMPTIONS.pendingDeadlineMs + 1;
  const run = async (reply: () => VendorAnswer, now: number) =>
    (await instrumental.poll?.run([item('AAAA')], fakeContext(reply, now).ctx))?.get('d-AAAA');

  it('a check that keeps failing (503) ends FAILED past the deadline, naming the last failure', async () => {
    const before = await run(() => answer(503, 'down'), accepted + 60_000);
    assert.equal(before?.kind, 'error', 'before the deadline it stays pending');
    const o = await run(() => answer(503, 'down'), late);
    assert.equal(o?.kind, 'status');
    assert.equal(o?.kind === 'status' && o.status, 'FAILED');
    assert.equal(o?.kind === 'status' && o.error?.code, 'VALIDATION_TIMEOUT');
    assert.match((o?.kind === 'status' && o.error?.message) || '', /STATUS_CHECK_FAILED.*503/);
  });
  it('an id fileStatus keeps leaving out (STATUS_MISSING) ends FAILED past the deadline', async () => {
    const reply = () => answer(200, '{"statuses":{}}');
    assert.equal((await run(reply, accepted + 60_000))?.kind, 'error');
    const o = await run(reply, late);
    assert.equal(o?.kind === 'status' && o.status, 'FAILED');
    assert.match((o?.kind === 'status' && o.error?.message) || '', /STATUS_MISSING/);
  });
  it('no answer at all ends FAILED past the deadline', async () => {
    const o = await run(
      () => ({ kind: 'no-answer', error: new Error('ECONNRESET'), sentInFull: true }),
      late,
    );
    assert.equal(o?.kind === 'status' && o.status, 'FAILED');
    assert.match((o?.kind === 'status' && o.error?.message) || '', /NETWORK_ERROR.*ECONNRESET/);
  });
  it('a 401 still holds the destination, deadline or not', async () => {
    assert.equal((await run(() => answer(401, '{"code":"UNAUTHORIZED"}'), late))?.kind, 'hold');
  });
  it('a 3xx on fileStatus holds the destination (ENDPOINT_MOVED), not a failure of each file', async () => {
    const o = await run(() => answer(301, '', { location: 'https://elsewhere.example/' }), accepted + 60_000);
    assert.equal(o?.kind, 'hold');
    assert.equal(o?.kind === 'hold' && o.error.code, 'ENDPOINT_MOVED');
  });
  it('a fileStatus 2xx other than 200 is read like a 200', async () => {
    const o = await run(() => answer(201, '{"statuses":{"AAAA":"UPLOADED"}}'), accepted + 60_000);
    assert.deepEqual(o, { kind: 'status', status: 'UPLOADED' });
  });
});

describe('Instrumental key shape (checked before any request)', () => {
  it('takes the documented shapes, with or without project and key name', () => {
    assert.equal(checkCredentials('INST:V1:ABC123:secret-part'), undefined);
    assert.equal(checkCredentials('project:key-name:INST:V1:ABC123:secret-part'), undefined);
  });
  it('refuses a bare identifier or a key of another vendor', () => {
    assert.match(checkCredentials('ABC123') ?? '', /not an Instrumental key/);
    assert.match(checkCredentials('ei_0123456789abcdef') ?? '', /not an Instrumental key/);
    assert.match(checkCredentials('INST:V1:ABC123') ?? '', /not an Instrumental key/);
  });
});
