/**
 * The layout-independent header walks over real ranged GETs: objects in the local S3 emulator (fauxqs, versioned
 * ingest bucket) read through S3Objects.range by the real SDK client. The same content gets the same verdict
 * whether its header is near the start or past the first megabyte, in a few small reads.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { S3Objects } from '../../lambdas/adapters/s3.ts';
import { isProbeError, jpegFrame, mp4Info } from '../../lambdas/commons/media.ts';
import { CachingRangeReader, type RangeReader } from '../../lambdas/commons/range-reader.ts';
import type { ObjectRef } from '../../lambdas/vendors/types.ts';
import type { LocalClients } from '../../local/clients.ts';
import type { Emulators } from '../../local/emulators.ts';
import { createResources, type LocalResources } from '../../local/resources.ts';
import { makeJpegHeaderOnly, makeMp4 } from '../../simulators/media/index.ts';
import { startLocalS3 } from './helpers.ts';

const MiB = 1024 * 1024;
const HEAD = 256 * 1024;

let emu: Emulators;
let clients: LocalClients;
let res: LocalResources;
let objects: S3Objects;

before(async () => {
  ({ emu, clients } = await startLocalS3());
  res = await createResources({ clients, sqsEndpoint: emu.sqsEndpoint, vendors: [], table: false });
  objects = new S3Objects(clients.relay.s3);
});
after(async () => {
  clients.destroy();
  await emu.stop();
});

async function put(key: string, body: Buffer): Promise<ObjectRef> {
  const out = await clients.s3.send(
    new PutObjectCommand({ Bucket: res.buckets.ingest, Key: key, Body: body }),
  );
  const ref: ObjectRef = { bucket: res.buckets.ingest, key, etag: out.ETag ?? '', size: body.length };
  if (out.VersionId) ref.versionId = out.VersionId;
  return ref;
}

/** What the forwarder will do: one ranged GET for the head, then a caching reader over ranged GETs. */
async function readerFor(ref: ObjectRef): Promise<CachingRangeReader> {
  const source: RangeReader = { size: ref.size, read: (start, end) => objects.range(ref, start, end) };
  return new CachingRangeReader(source, { head: await objects.range(ref, 0, HEAD) });
}

describe('pre-flight header walks over S3 ranged GETs', () => {
  it('a 48 MP JPEG: the same frame with SOF near the start and after 1 MB of COM segments', async (t) => {
    const near = await put(
      'line-1/cam/near.jpg',
      makeJpegHeaderOnly({ width: 8000, height: 6000, padToBytes: 2 * MiB }),
    );
    const deep = await put(
      'line-1/cam/deep.jpg',
      makeJpegHeaderOnly({ width: 8000, height: 6000, padToBytes: 2 * MiB, padAt: 'afterApp0' }),
    );
    const verdicts = [];
    for (const ref of [near, deep]) {
      const reader = await readerFor(ref);
      const frame = await jpegFrame(reader);
      assert.ok(!isProbeError(frame), JSON.stringify(frame));
      verdicts.push([frame.width, frame.height]);
      t.diagnostic(`${ref.key}: SOF at ${frame.offset}, ${JSON.stringify(reader.stats)} after the head`);
      assert.ok(reader.stats.calls <= 5, `${ref.key}: ${reader.stats.calls} ranged GETs after the head`);
    }
    assert.deepEqual(verdicts, [
      [8000, 6000],
      [8000, 6000],
    ]);
  });

  it('an mp4v video: the same codec with moov first and after a 3 MB mdat, one small GET after the head', async (t) => {
    const fast = await put('line-1/cam/fast.mp4', makeMp4({ codec: 'mp4v', padToBytes: 3 * MiB }));
    const atEnd = await put(
      'line-1/cam/end.mp4',
      makeMp4({ codec: 'mp4v', padToBytes: 3 * MiB, moovAtEnd: true }),
    );
    const codecs = [];
    for (const ref of [fast, atEnd]) {
      const reader = await readerFor(ref);
      const info = await mp4Info(reader);
      assert.ok(!isProbeError(info), JSON.stringify(info));
      codecs.push(info.codec);
      t.diagnostic(`${ref.key}: moov at ${info.moovOffset}, ${JSON.stringify(reader.stats)} after the head`);
      assert.ok(reader.stats.calls <= 1 && reader.stats.bytes < 4096, JSON.stringify(reader.stats));
    }
    assert.deepEqual(codecs, ['mp4v', 'mp4v']);
  });

  it('reads mid-object ranges of the version; an overwritten version is NoSuchVersion (local shim)', async () => {
    const first = await put('line-1/cam/v.bin', Buffer.alloc(100_000, 1));
    assert.ok(first.versionId, 'the ingest bucket is versioned');
    assert.deepEqual(await objects.range(first, 50_000, 50_004), Buffer.alloc(4, 1));
    assert.deepEqual(await objects.range(first, 99_998, 200_000), Buffer.alloc(2, 1));
    assert.equal((await objects.range(first, 100_000, 100_010)).length, 0);
    await put('line-1/cam/v.bin', Buffer.alloc(100_000, 2));
    // the local emulator keeps only the latest bytes (local/s3-hooks.ts); the forwarder maps this to OBJECT_NOT_FOUND
    await assert.rejects(objects.range(first, 0, 4), { name: 'NoSuchVersion' });
  });

  it('in an unversioned bucket, reads only the upload the delivery stands for: a newer one is PreconditionFailed', async () => {
    const put = async (fill: number) => {
      const out = await clients.s3.send(
        new PutObjectCommand({
          Bucket: res.buckets.results,
          Key: 'nas/again.bin',
          Body: Buffer.alloc(1000, fill),
        }),
      );
      // As in an S3 event: the ETag without its quotes, and no version id.
      const ref: ObjectRef = {
        bucket: res.buckets.results,
        key: 'nas/again.bin',
        etag: (out.ETag ?? '').replace(/"/g, ''),
        size: 1000,
      };
      assert.equal(out.VersionId, undefined, 'the results bucket is not versioned');
      return ref;
    };
    const first = await put(1);
    assert.deepEqual(await objects.range(first, 0, 4), Buffer.alloc(4, 1));
    const second = await put(2);
    await assert.rejects(objects.range(first, 0, 4), { name: 'PreconditionFailed' });
    await assert.rejects(objects.stream(first), { name: 'PreconditionFailed' });
    assert.deepEqual(await objects.range(second, 0, 4), Buffer.alloc(4, 2));
    const chunks: Buffer[] = [];
    for await (const c of await objects.stream(second)) chunks.push(c as Buffer);
    assert.deepEqual(Buffer.concat(chunks), Buffer.alloc(1000, 2));
  });
});
