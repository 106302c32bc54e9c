import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeJpeg, makeJpegHeaderOnly, makeMp4 } from '#simulators/media/index.ts';
import { classify, instrumental } from './index.ts';

const fields = {
  serialNumber: 'SN-1',
  stationName: 'AOI-1',
  imageType: 'Top',
  imageTimestamp: { iso8601Time: '2026-01-01T00:00:00.000Z', ianaTimeZone: 'UTC' },
};
const destination = { name: 'd', vendor: 'instrumental', baseUrl: 'http://127.0.0.1:1', options: {} };
const check = (key: string, head: Buffer, size = head.length, f: Record<string, unknown> = fields) =>
  instrumental.preflight?.check({
    object: { bucket: 'b', key, etag: 'e', size },
    head,
    fields: f as never,
    destination,
  });

describe('Instrumental pre-flight (documented rules, no vendor call)', () => {
  it('passes a small JPEG and an H.264 MP4', () => {
    assert.equal(check('a/b.jpg', makeJpeg({ width: 32, height: 32 })), undefined);
    assert.equal(check('a/b.JPEG', makeJpeg({ width: 32, height: 32 })), undefined);
    assert.equal(check('a/b.mp4', makeMp4({ codec: 'avc1' })), undefined);
  });
  it('refuses extensions Instrumental does not take', () => {
    assert.equal(check('a/b.png', Buffer.from([0x89, 0x50]))?.code, 'UNSUPPORTED_EXTENSION');
    assert.equal(check('a/noext', Buffer.from([1]))?.code, 'UNSUPPORTED_EXTENSION');
  });
  it('refuses a .jpg that is not a JPEG', () => {
    assert.equal(check('a/b.jpg', Buffer.from('GIF89a....'))?.code, 'NOT_A_JPEG');
  });
  it('refuses files over 50 MB and JSON over 4 MB', () => {
    const jpeg = makeJpeg({ width: 8, height: 8 });
    assert.equal(check('a/b.jpg', jpeg, 50 * 1024 * 1024 + 1)?.code, 'FILE_TOO_LARGE');
    assert.equal(check('a/b.jpg', jpeg, 50 * 1024 * 1024), undefined);
    assert.equal(
      check('a/b.jpg', jpeg, jpeg.length, { ...fields, tags: ['x'.repeat(4 * 1024 * 1024)] })?.code,
      'DATA_TOO_LARGE',
    );
  });
  it('refuses images over 32 MP from the header alone', () => {
    const err = check('a/b.jpg', makeJpegHeaderOnly({ width: 8000, height: 6000 }));
    assert.equal(err?.code, 'TOO_MANY_PIXELS');
    assert.match(err?.message ?? '', /8000x6000 is 48\.0 MP/);
    assert.equal(check('a/b.jpg', makeJpegHeaderOnly({ width: 6528, height: 4896 })), undefined);
  });
  it('refuses the mp4v codec', () => {
    assert.equal(check('a/b.mp4', makeMp4({ codec: 'mp4v' }))?.code, 'UNSUPPORTED_CODEC');
  });
  it('refuses empty objects', () => {
    assert.equal(check('a/b.jpg', Buffer.alloc(0), 0)?.code, 'EMPTY_FILE');
  });
});

describe('Instrumental answers → outcomes', () => {
  it('200 with fileId is accepted, pending validation', () => {
    assert.deepEqual(classify(200, '{"fileId":"e0Blm7EjlLQ2"}'), {
      kind: 'accepted',
      status: 'PENDING_VALIDATION',
      vendorRef: 'e0Blm7EjlLQ2',
    });
  });
  it('400 {code,msg} is rejected with the vendor code', () => {
    const o = classify(400, '{"code":"INVALID_DATA","msg":"stationName is empty"}');
    assert.equal(o.kind, 'rejected');
    assert.equal(o.kind === 'rejected' && o.error.vendorCode, 'INVALID_DATA');
    assert.equal(o.kind === 'rejected' && o.error.httpStatus, 400);
  });
  it('400 schema errors are rejected with the reason', () => {
    const o = classify(
      400,
      '{"error":"Could not parse request body as the expected JSON format.","reason":"ERROR :: /tags :: expected array"}',
    );
    assert.equal(o.kind === 'rejected' && o.error.code, 'INVALID_REQUEST_SCHEMA');
    assert.match(o.kind === 'rejected' ? o.error.message : '', /\/tags/);
  });
  it('401 pauses the destination, 413 rejects', () => {
    assert.equal(classify(401, '').kind, 'unauthorized');
    assert.equal(classify(413, '').kind, 'rejected');
  });
  it('429 and 5xx retry, honouring Retry-After', () => {
    assert.deepEqual(classify(429, '', '2'), {
      kind: 'retry',
      retryAfterMs: 2000,
      error: { code: 'RATE_LIMITED', message: 'Instrumental answered 429', httpStatus: 429 },
    });
    assert.equal(classify(503, 'oops').kind, 'retry');
    assert.equal(classify(200, 'not json').kind, 'retry');
  });
});
