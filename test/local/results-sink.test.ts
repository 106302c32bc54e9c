/**
 * The results sink over the S3 emulator: a result written with a writeId is written once, however many
 * writers race (a poller and a callback, a duplicated callback), and replaces another result at its key. The
 * conditional writes it relies on (If-None-Match / If-Match, as S3 has them) come from local/s3-hooks.ts.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { S3Results, WRITE_ID_METADATA } from '../../lambdas/adapters/s3.ts';
import type { LocalClients } from '../../local/clients.ts';
import type { Emulators } from '../../local/emulators.ts';
import type { ObjectCreated } from '../../local/s3-hooks.ts';
import { startLocalS3 } from './helpers.ts';

const BUCKET = 'results-sink-test';
let emu: Emulators;
let clients: LocalClients;
let sink: S3Results;
const created: ObjectCreated[] = [];

before(async () => {
  ({ emu, clients } = await startLocalS3());
  await clients.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  sink = new S3Results(clients.s3, BUCKET, 'results/');
  emu.s3Events.on('objectCreated', (e) => {
    if (e.bucket === BUCKET) created.push(e);
  });
});
after(async () => {
  clients?.destroy();
  await emu?.stop();
});

const writesOf = (key: string) => created.filter((e) => e.key === key).length;
const body = async (key: string) => {
  const out = await clients.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from((await out.Body?.transformToByteArray()) ?? []);
};
const put = (key: string, bytes: Buffer, writeId?: string) =>
  sink.put({
    key,
    body: Readable.from([bytes]),
    contentLength: bytes.length,
    contentType: 'image/jpeg',
    metadata: { 'source-key': 'line-1%2Fa.jpg' },
    ...(writeId !== undefined ? { writeId } : {}),
  });

describe('results sink: one write per writeId', () => {
  test('the first write writes; the same writeId again writes nothing', async () => {
    const first = await put('d/a.jpg', Buffer.from('result one'), 'delivery-1:task-1');
    assert.deepEqual(first, { bucket: BUCKET, key: 'results/d/a.jpg', written: true });
    const again = await put('d/a.jpg', Buffer.from('result one'), 'delivery-1:task-1');
    assert.deepEqual(again, { bucket: BUCKET, key: 'results/d/a.jpg', written: false });
    assert.equal(writesOf('results/d/a.jpg'), 1);
    const head = await clients.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'results/d/a.jpg' }));
    assert.equal(head.Metadata?.[WRITE_ID_METADATA], 'delivery-1:task-1');
    assert.equal(head.Metadata?.['source-key'], 'line-1%2Fa.jpg');
  });

  test('another writeId (a newer source version) replaces the result at the key', async () => {
    await put('d/b.jpg', Buffer.from('old'), 'delivery-old:task-1');
    const newer = await put('d/b.jpg', Buffer.from('new'), 'delivery-new:task-2');
    assert.equal(newer.written, true);
    assert.equal((await body('results/d/b.jpg')).toString(), 'new');
    assert.equal(writesOf('results/d/b.jpg'), 2);
  });

  test('eight writers of one result at once leave exactly one write', async () => {
    const bytes = Buffer.alloc(200_000, 7);
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, () => put('d/race.jpg', bytes, 'delivery-race:task-9')),
    );
    const seen = JSON.stringify(results.map((r) => (r.status === 'fulfilled' ? r.value : String(r.reason))));
    assert.ok(
      results.every((r) => r.status === 'fulfilled'),
      `every writer learns the result is there: ${seen}`,
    );
    const written = results.filter((r) => r.status === 'fulfilled' && r.value.written).length;
    assert.equal(written, 1, seen);
    assert.equal(writesOf('results/d/race.jpg'), 1);
    assert.deepEqual(await body('results/d/race.jpg'), bytes);
  });

  test('without a writeId, a put is a plain overwrite', async () => {
    await put('d/c.jpg', Buffer.from('1'));
    await put('d/c.jpg', Buffer.from('2'));
    assert.equal(writesOf('results/d/c.jpg'), 2);
  });
});

describe('conditional PutObject on the emulator (as S3 answers it)', () => {
  test('If-None-Match: * on an existing key → 412; If-Match with another ETag → 412; on a missing key → 404', async () => {
    const first = await clients.s3.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: 'cond/x', Body: 'a', IfNoneMatch: '*' }),
    );
    await assert.rejects(
      clients.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'cond/x', Body: 'b', IfNoneMatch: '*' })),
      (err: { $metadata?: { httpStatusCode?: number }; name?: string }) =>
        err.$metadata?.httpStatusCode === 412 && err.name === 'PreconditionFailed',
    );
    await assert.rejects(
      clients.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'cond/x', Body: 'b', IfMatch: '"0000"' })),
      (err: { $metadata?: { httpStatusCode?: number } }) => err.$metadata?.httpStatusCode === 412,
    );
    await clients.s3.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: 'cond/x', Body: 'c', IfMatch: first.ETag }),
    );
    assert.equal((await body('cond/x')).toString(), 'c');
    await assert.rejects(
      clients.s3.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: 'cond/missing', Body: 'b', IfMatch: '"1"' }),
      ),
      (err: { $metadata?: { httpStatusCode?: number } }) => err.$metadata?.httpStatusCode === 404,
    );
  });
});
