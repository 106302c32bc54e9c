/**
 * The results sink (S3Results) on the local S3 emulator through the relay's own S3 client: a result is written
 * only while the object version it was made from is still the current one of its key, so an older version's
 * result finishing late never replaces the newer version's result under the same result key.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { S3Results } from '../../lambdas/adapters/s3.ts';
import type { ObjectRef } from '../../lambdas/vendors/types.ts';
import type { LocalClients } from '../../local/clients.ts';
import type { Emulators } from '../../local/emulators.ts';
import { createResources, type LocalResources } from '../../local/resources.ts';
import { startLocalS3 } from './helpers.ts';

let emu: Emulators;
let clients: LocalClients;
let res: LocalResources;
let sink: S3Results;

before(async () => {
  ({ emu, clients } = await startLocalS3());
  res = await createResources({ clients, sqsEndpoint: emu.sqsEndpoint, vendors: [], table: false });
  sink = new S3Results(clients.relay.s3, res.buckets.results, 'results/');
});
after(async () => {
  clients.destroy();
  await emu.stop();
});

/** A factory upload as its S3 event names it: the ETag without quotes, the version id where versioned. */
async function upload(bucket: string, key: string, fill: number): Promise<ObjectRef> {
  const out = await clients.s3.send(
    new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.alloc(500, fill) }),
  );
  const ref: ObjectRef = { bucket, key, etag: (out.ETag ?? '').replace(/"/g, ''), size: 500 };
  if (out.VersionId) ref.versionId = out.VersionId;
  return ref;
}

const write = (source: ObjectRef, fill: number) =>
  sink.put({
    key: 'iv/line-1/cam/SN1.jpg',
    body: Buffer.alloc(100, fill),
    contentType: 'image/jpeg',
    source,
  });

async function resultBytes(): Promise<Buffer> {
  const out = await clients.s3.send(
    new GetObjectCommand({ Bucket: res.buckets.results, Key: 'results/iv/line-1/cam/SN1.jpg' }),
  );
  return Buffer.from(await (out.Body?.transformToByteArray() ?? new Uint8Array()));
}

describe('S3Results: never an older source version over a newer one', () => {
  it('versioned ingest bucket: the current version writes; an older one is superseded, naming the newer', async () => {
    const v1 = await upload(res.buckets.ingest, 'line-1/cam/SN1.jpg', 1);
    assert.ok(v1.versionId, 'the local ingest bucket is versioned');
    const v2 = await upload(res.buckets.ingest, 'line-1/cam/SN1.jpg', 2);
    assert.deepEqual(await write(v2, 20), {
      written: true,
      bucket: res.buckets.results,
      key: 'results/iv/line-1/cam/SN1.jpg',
    });
    assert.deepEqual(await write(v1, 10), {
      written: false,
      superseded: { versionId: v2.versionId, etag: v2.etag },
    });
    assert.deepEqual(await resultBytes(), Buffer.alloc(100, 20));
  });

  it('unversioned bucket: compared by ETag (as the If-Match reads do); the same bytes again are the same object', async () => {
    // The results bucket stands in for an unversioned ingest bucket (local/resources.ts versions only ingest).
    const bucket = res.buckets.results;
    const first = await upload(bucket, 'nas/SN2.jpg', 3);
    assert.equal(first.versionId, undefined);
    const second = await upload(bucket, 'nas/SN2.jpg', 4);
    const again = await upload(bucket, 'nas/SN2.jpg', 4);
    assert.equal((await write(first, 30)).written, false);
    assert.equal((await write(again, 40)).written, true);
    assert.equal((await write(second, 41)).written, true, 'same content, same ETag: not a newer version');
    assert.deepEqual(await resultBytes(), Buffer.alloc(100, 41));
  });

  it('a source deleted since (a lifecycle rule, a clean-up): nothing newer exists, the result is written', async () => {
    const gone = await upload(res.buckets.results, 'nas/SN3.jpg', 5);
    await clients.s3.send(new DeleteObjectCommand({ Bucket: gone.bucket, Key: gone.key }));
    assert.equal((await write(gone, 50)).written, true);
    assert.deepEqual(await resultBytes(), Buffer.alloc(100, 50));
  });
});
