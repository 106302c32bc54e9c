import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { recorded } from '#commons/errors.ts';
import { createLogger } from '#commons/logger.ts';
import { basenameOf, extensionOf, jpegDimensions, mp4VideoCodec, sniff, splitName } from '#commons/media.ts';
import { multipartBody } from '#commons/multipart.ts';
import { decodeS3EventKey } from '#commons/s3-key.ts';
import { parseRetryAfter, retryDelayMs } from '#domain/backoff.ts';
import { decodeDeliveryId, deliveryKey, encodeDeliveryId, parseDeliveryMessage } from '#domain/delivery.ts';
import { gcra, tokenBlock } from '#domain/rate-limit.ts';
import { allowedFrom, canTransition, isTerminal, SENDABLE, STATUSES } from '#domain/status.ts';
import { rateLimitBucketId } from '#domain/vendor-context.ts';
import { makeJpeg, makeJpegHeaderOnly, makeMp4 } from '#simulators/media/index.ts';
import { VENDORS } from '#vendors/registry.ts';
import type { VendorPlugin } from '#vendors/types.ts';

describe('S3 event key decoding', () => {
  const cases: Array<[string, string]> = [
    ['images/cam+1/shot+A.jpg', 'images/cam 1/shot A.jpg'],
    ['a%2Bb.jpg', 'a+b.jpg'],
    ['100%25+done.jpg', '100% done.jpg'],
    ['%E6%97%A5%E6%9C%AC/caf%C3%A9.jpg', '日本/café.jpg'],
    ['plain/key.jpg', 'plain/key.jpg'],
  ];
  for (const [encoded, key] of cases) {
    it(`decodes ${encoded} once`, () => assert.equal(decodeS3EventKey(encoded), key));
  }
});

describe('GCRA rate limit (50 burst, 5/s)', () => {
  const limit = { burst: 50, perSecond: 5 };
  it('admits exactly the burst at once, then one per 200 ms', () => {
    let tat: number | undefined;
    let admitted = 0;
    for (let i = 0; i < 80; i++) {
      const d = gcra(limit, tat, 0);
      if (d.allowed) {
        tat = d.newTat;
        admitted++;
      }
    }
    assert.equal(admitted, 50);
    const refused = gcra(limit, tat, 0);
    assert.equal(refused.allowed, false);
    assert.equal(refused.allowed === false && refused.retryInMs, 200);
    assert.equal(gcra(limit, tat, 199).allowed, false);
    assert.equal(gcra(limit, tat, 200).allowed, true);
  });
  it('refills to the full burst after idling, never beyond', () => {
    const d = gcra(limit, 1_000, 1_000_000);
    assert.ok(d.allowed);
    let tat = d.allowed ? d.newTat : 0;
    let n = 1;
    for (;;) {
      const x = gcra(limit, tat, 1_000_000);
      if (!x.allowed) break;
      tat = x.newTat;
      n++;
    }
    assert.equal(n, 50);
  });
});

describe('GCRA in blocks (tokens taken n at a time by concurrent callers)', () => {
  const limit = { burst: 45, perSecond: 5 };
  it('never admits more than the burst plus the refill, whatever the block sizes', () => {
    let tat: number | undefined;
    let admitted = 0;
    let now = 0;
    const sizes = [11, 3, 7, 1, 11, 5, 2, 11, 9];
    for (let step = 0; step < 2_000; step++) {
      const d = gcra(limit, tat, now, sizes[step % sizes.length]);
      if (d.allowed) {
        admitted += Math.min(sizes[step % sizes.length] as number, limit.burst);
        tat = d.newTat;
      }
      assert.ok(admitted <= limit.burst + (now / 1000) * limit.perSecond + 1e-9, `at ${now} ms: ${admitted}`);
      now += 37;
    }
    assert.ok(admitted >= 0.95 * (limit.burst + (now / 1000) * limit.perSecond) - 11, 'and uses the limit');
  });
  it('a block of n waits until n tokens have refilled', () => {
    // One token left (TAT = now + 44 intervals): one is admitted now, a block of 5 after 4 more refills.
    const drained = 10_000 + 44 * 200;
    assert.equal(gcra(limit, drained, 10_000, 1).allowed, true);
    assert.deepEqual(gcra(limit, drained, 10_000, 5), { allowed: false, retryInMs: 800 });
    assert.deepEqual(gcra(limit, drained, 10_800, 5), { allowed: true, newTat: drained + 5 * 200 });
  });
  it('blocks are a quarter of the burst at most, and no larger than what the caller plans', () => {
    assert.equal(tokenBlock(limit, 10), 10);
    assert.equal(tokenBlock(limit, 100), 11);
    assert.equal(tokenBlock(limit, 0), 1);
    assert.equal(tokenBlock({ burst: 2, perSecond: 1 }, 10), 1);
  });
});

describe('retry backoff', () => {
  const policy = { baseMs: 1000, maxMs: 60_000, floorMs: 200 };
  it('grows exponentially with full jitter and a ceiling', () => {
    assert.equal(
      retryDelayMs(1, policy, undefined, () => 0.999),
      999,
    );
    assert.equal(
      retryDelayMs(4, policy, undefined, () => 0.5),
      4000,
    );
    assert.equal(
      retryDelayMs(30, policy, undefined, () => 0.999),
      59_940,
    );
  });
  it('never goes under the floor or under Retry-After', () => {
    assert.equal(
      retryDelayMs(1, policy, undefined, () => 0),
      200,
    );
    assert.equal(
      retryDelayMs(1, policy, 7000, () => 0),
      7000,
    );
    assert.equal(
      retryDelayMs(1, policy, 120_000, () => 0),
      120_000,
    );
  });
  it('parses Retry-After seconds and dates', () => {
    assert.equal(parseRetryAfter('3'), 3000);
    assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6000);
    assert.equal(parseRetryAfter('soon'), undefined);
    assert.equal(parseRetryAfter(undefined), undefined);
  });
});

describe('status model', () => {
  it('terminal statuses have no way out', () => {
    for (const s of STATUSES) if (isTerminal(s)) assert.deepEqual(allowedFrom(s).includes(s), false);
    assert.equal(canTransition('UPLOADED', 'SENDING'), false);
    assert.equal(canTransition('DEAD', 'SENDING'), false);
  });
  it('claims exactly from the statuses the model lets reach SENDING (besides an expired SENDING lease)', () => {
    assert.deepEqual([...SENDABLE, 'SENDING'].sort(), allowedFrom('SENDING').sort());
  });
  it('follows the documented path', () => {
    const path = ['RECEIVED', 'QUEUED', 'SENDING', 'PENDING_VALIDATION', 'UPLOADED'] as const;
    for (let i = 1; i < path.length; i++)
      assert.ok(canTransition(path[i - 1]!, path[i]!), `${path[i - 1]} → ${path[i]}`);
    assert.ok(canTransition('SENDING', 'RETRYING'));
    assert.ok(canTransition('RETRYING', 'SENDING'));
  });
});

describe('delivery identity', () => {
  const ref = { bucket: 'b', key: 'line 1/a+b%.jpg', etag: 'e', size: 1 };
  it('round-trips through the URL-safe id', () => {
    const key = deliveryKey(ref, 'instrumental-main');
    assert.deepEqual(decodeDeliveryId(encodeDeliveryId(key)), key);
    assert.match(encodeDeliveryId(key), /^[A-Za-z0-9_-]+$/);
  });
  it('keeps versions apart', () => {
    assert.notEqual(
      deliveryKey({ ...ref, versionId: '1' }, 'd').pk,
      deliveryKey({ ...ref, versionId: '2' }, 'd').pk,
    );
  });
  it('refuses ids that are not delivery ids', () => {
    assert.equal(decodeDeliveryId(Buffer.from('ratelimit#x\nbucket').toString('base64url')), undefined);
  });
  it('refuses malformed messages', () => {
    assert.equal(parseDeliveryMessage('{"v":2}'), undefined);
    assert.equal(parseDeliveryMessage('not json'), undefined);
  });
});

describe('media sniffing', () => {
  it('reads JPEG dimensions from the SOF header', () => {
    const jpeg = makeJpeg({ width: 64, height: 48 });
    assert.equal(sniff(jpeg), 'jpeg');
    assert.deepEqual(jpegDimensions(jpeg), { width: 64, height: 48 });
    assert.deepEqual(jpegDimensions(makeJpegHeaderOnly({ width: 8000, height: 6000 })), {
      width: 8000,
      height: 6000,
    });
  });
  it('finds the MP4 codec in a fast-start file', () => {
    assert.equal(mp4VideoCodec(makeMp4({ codec: 'avc1' })), 'avc1');
    assert.equal(mp4VideoCodec(makeMp4({ codec: 'mp4v' })), 'mp4v');
    assert.equal(sniff(makeMp4({ codec: 'avc1' })), 'mp4');
  });
  it('splits names', () => {
    assert.deepEqual(splitName('a/b/Shot.01.JPG'), {
      basename: 'Shot.01.JPG',
      stem: 'Shot.01',
      extension: 'JPG',
    });
    assert.equal(extensionOf('a/b/.hidden'), '');
    assert.equal(basenameOf('x/y z.jpg'), 'y z.jpg');
  });
});

describe('streaming multipart body', () => {
  it('announces the exact length and streams file parts', async () => {
    const file = Buffer.alloc(100_000, 7);
    const form = multipartBody(
      [
        {
          name: 'file',
          filename: 'café "1".jpg',
          contentType: 'image/jpeg',
          size: file.length,
          open: () => Readable.from([file]),
        },
        { name: 'data', value: '{"serialNumber":"ü"}', contentType: 'application/json' },
      ],
      'BOUNDARY',
    );
    const chunks: Buffer[] = [];
    for await (const c of form.body) chunks.push(c as Buffer);
    const all = Buffer.concat(chunks);
    assert.equal(all.length, form.contentLength);
    const text = all.toString('latin1');
    assert.match(
      text,
      /Content-Disposition: form-data; name="file"; filename="caf.+ %221%22.jpg"\r\nContent-Type: image\/jpeg/,
    );
    assert.match(text, /name="data"\r\nContent-Type: application\/json\r\n\r\n/);
    assert.ok(text.endsWith('--BOUNDARY--\r\n'));
  });
  it('fails when the source is shorter than announced', async () => {
    const form = multipartBody([
      {
        name: 'file',
        filename: 'a.jpg',
        contentType: 'image/jpeg',
        size: 10,
        open: () => Readable.from([Buffer.alloc(5)]),
      },
    ]);
    await assert.rejects(async () => {
      for await (const _ of form.body) {
        // drain
      }
    }, /5 bytes, 10 announced/);
  });
});

describe('recorded errors', () => {
  it('keeps the vendor code and status, truncates long messages', () => {
    const e = recorded('X', 'm'.repeat(5000), { httpStatus: 400, vendorCode: 'INVALID_DATA' });
    assert.equal(e.message.length, 1000);
    assert.equal(e.httpStatus, 400);
    assert.equal(e.vendorCode, 'INVALID_DATA');
  });
});

describe('shared rate-limit bucket identity', () => {
  const plugin = VENDORS.instrumental as VendorPlugin;
  it('is one bucket per API key, whatever secret or destination holds it', () => {
    const key = 'relay-tests:a:INST:V1:fake-id:fake-secret';
    assert.equal(rateLimitBucketId(plugin, key, 'dest-a'), rateLimitBucketId(plugin, key, 'dest-b'));
    assert.notEqual(rateLimitBucketId(plugin, key, 'd'), rateLimitBucketId(plugin, `${key}x`, 'd'));
  });
  it('never carries the key itself', () => {
    const id = rateLimitBucketId(plugin, 'relay-tests:a:INST:V1:fake-id:fake-secret', 'd');
    assert.doesNotMatch(id, /fake|INST/);
  });
  it('falls back to the destination without a key', () => {
    assert.equal(rateLimitBucketId(plugin, undefined, 'd'), 'instrumental:destination:d');
  });
});

describe('logger', () => {
  it('never writes a credential, however deep it sits', () => {
    const lines: string[] = [];
    const log = createLogger({ fn: 't' }, { level: 'debug', sink: (l) => lines.push(l) });
    log.info('sending', {
      headers: {
        'instrumental-api-key': 'relay-tests:x:INST:V1:fake-id:fake-secret',
        authorization: 'Bearer abc',
      },
      nested: [{ apiKey: 'ei_fake', password: 'p', token: 't' }],
      key: 'line-1/a.jpg',
    });
    const entry = JSON.parse(lines[0] ?? '{}');
    assert.equal(entry.headers['instrumental-api-key'], '[redacted]');
    assert.equal(entry.headers.authorization, '[redacted]');
    assert.deepEqual(entry.nested, [{ apiKey: '[redacted]', password: '[redacted]', token: '[redacted]' }]);
    assert.equal(entry.key, 'line-1/a.jpg', 'object keys are not credentials');
    assert.doesNotMatch(lines[0] ?? '', /fake-secret|Bearer/);
  });
  it('drops lines below its level', () => {
    const lines: string[] = [];
    createLogger({}, { level: 'warn', sink: (l) => lines.push(l) }).info('quiet');
    assert.equal(lines.length, 0);
  });
});
