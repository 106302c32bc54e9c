/**
 * OneReadObjects (lambdas/domain/vendor-context.ts): a small object the pre-flight read whole is sent from those
 * bytes — one S3 request per file instead of two — and nothing else changes: bigger objects, reads not from
 * offset 0 and other versions still go to the source.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import { OneReadObjects, WHOLE_OBJECT_MAX_BYTES } from '#domain/vendor-context.ts';
import type { ObjectRef, ObjectSource } from '#vendors/types.ts';

/** A source over fixed bytes per key that counts what it was asked. */
function countingSource(objects: Record<string, Buffer>) {
  const calls: string[] = [];
  const source: ObjectSource = {
    async range(ref, start, end) {
      calls.push(`range ${ref.key} ${start}-${end}`);
      const b = objects[ref.key] as Buffer;
      return b.subarray(start, Math.min(end, b.length));
    },
    async stream(ref) {
      calls.push(`stream ${ref.key}`);
      return Readable.from([objects[ref.key] as Buffer]);
    },
  };
  return { source, calls };
}

const ref = (key: string, size: number, versionId = 'v1'): ObjectRef => ({
  bucket: 'ingest',
  key,
  versionId,
  etag: `etag-${key}`,
  size,
});

const bytes = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * seed) % 251));

describe('OneReadObjects', () => {
  it('streams a small object from the head that covered it: one source read', async () => {
    const body = bytes(50 * 1024, 7);
    const { source, calls } = countingSource({ small: body });
    const objects = new OneReadObjects(source);
    const r = ref('small', body.length);
    const head = await objects.range(r, 0, 64 * 1024);
    assert.equal(head.length, body.length);
    assert.deepEqual(await buffer(await objects.stream(r)), body);
    assert.deepEqual(await buffer(await objects.stream(r)), body, 'a retried send reads it again');
    assert.deepEqual(await objects.range(r, 10, 20), body.subarray(10, 20));
    assert.deepEqual(calls, ['range small 0-65536']);
  });

  it('streams from the source when the head did not cover the object', async () => {
    const body = bytes(100 * 1024, 3);
    const { source, calls } = countingSource({ big: body });
    const objects = new OneReadObjects(source);
    const r = ref('big', body.length);
    await objects.range(r, 0, 64 * 1024);
    assert.deepEqual(await buffer(await objects.stream(r)), body);
    assert.deepEqual(calls, ['range big 0-65536', 'stream big']);
  });

  it('keeps nothing above WHOLE_OBJECT_MAX_BYTES, nor a read that did not start at 0', async () => {
    const large = bytes(WHOLE_OBJECT_MAX_BYTES + 1, 5);
    const small = bytes(1000, 11);
    const { source, calls } = countingSource({ large, small });
    const objects = new OneReadObjects(source);
    await objects.range(ref('large', large.length), 0, large.length);
    await objects.stream(ref('large', large.length));
    await objects.range(ref('small', small.length), 1, small.length);
    await objects.stream(ref('small', small.length));
    assert.deepEqual(calls, [
      `range large 0-${large.length}`,
      'stream large',
      'range small 1-1000',
      'stream small',
    ]);
  });

  it('tells versions apart: another version of the key is read from the source', async () => {
    const body = bytes(2000, 13);
    const { source, calls } = countingSource({ k: body });
    const objects = new OneReadObjects(source);
    await objects.range(ref('k', body.length, 'v1'), 0, 4096);
    await objects.stream(ref('k', body.length, 'v2'));
    assert.deepEqual(calls, ['range k 0-4096', 'stream k']);
  });
});
