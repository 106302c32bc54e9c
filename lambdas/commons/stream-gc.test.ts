import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { boundGarbage, type ExposedGc, GarbageBound, STREAM_GC_STEP_BYTES } from '#commons/stream-gc.ts';

const MiB = 1024 * 1024;

/** A stand-in for V8's gc that records what it was asked. */
function recordingGc(): { gc: ExposedGc; calls: Array<Parameters<ExposedGc>[0]> } {
  const calls: Array<Parameters<ExposedGc>[0]> = [];
  return { gc: (o) => void calls.push(o), calls };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('GarbageBound', () => {
  it('asks for one scavenge (minor, sync) each time the bytes streamed pass a step', () => {
    const { gc, calls } = recordingGc();
    const bound = new GarbageBound(4 * MiB, gc);
    for (let i = 0; i < 3; i++) bound.note(MiB);
    assert.equal(calls.length, 0, 'under one step');
    bound.note(MiB);
    assert.deepEqual(calls, [{ type: 'minor', execution: 'sync' }]);
    // The remainder carries over: 3 + 3 MiB after the first step is one more step with 2 MiB left.
    bound.note(3 * MiB);
    bound.note(3 * MiB);
    assert.equal(calls.length, 2);
    bound.note(2 * MiB - 1);
    assert.equal(calls.length, 2);
    bound.note(1);
    assert.equal(calls.length, 3);
    assert.equal(bound.collections, 3);
  });

  it('does nothing without a collector (Node without --expose-gc), and refuses a step that is not a positive integer', () => {
    const bound = new GarbageBound(1, null);
    assert.equal(bound.active, false);
    bound.note(100 * MiB);
    assert.equal(bound.collections, 0);
    for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => new GarbageBound(bad), RangeError);
  });

  it('the default step is 4 MiB (what bench section 3 measured)', () => {
    assert.equal(new GarbageBound().stepBytes, STREAM_GC_STEP_BYTES);
    assert.equal(STREAM_GC_STEP_BYTES, 4 * MiB);
  });
});

describe('boundGarbage', () => {
  it('passes every byte through unchanged and counts them', async () => {
    const { gc, calls } = recordingGc();
    const bound = new GarbageBound(MiB, gc);
    const bytes = Buffer.alloc(5 * MiB + 123);
    for (let i = 0; i < bytes.length; i += 4096) bytes[i] = i % 251;
    const chunks = Array.from({ length: Math.ceil(bytes.length / 65536) }, (_, i) =>
      bytes.subarray(i * 65536, (i + 1) * 65536),
    );
    const out: Buffer[] = [];
    for await (const c of boundGarbage(Readable.from(chunks, { objectMode: false }), bound))
      out.push(c as Buffer);
    const got = Buffer.concat(out);
    assert.equal(got.length, bytes.length);
    assert.equal(sha(got), sha(bytes));
    assert.equal(calls.length, 5);
  });

  it('adds no stage when the bound cannot collect', () => {
    const source = new PassThrough();
    assert.equal(boundGarbage(source, new GarbageBound(MiB, null)), source);
  });

  it('a failing source fails the bounded stream', async () => {
    const source = new PassThrough();
    const bounded = boundGarbage(source, new GarbageBound(MiB, recordingGc().gc));
    const failed = once(bounded, 'error');
    source.write(Buffer.from('abc'));
    source.destroy(new Error('socket reset'));
    bounded.resume();
    const [err] = await failed;
    assert.equal((err as Error).message, 'socket reset');
  });

  it('destroying the bounded stream (its request failed) destroys the source, freeing its socket', async () => {
    const source = new PassThrough();
    const bounded = boundGarbage(source, new GarbageBound(MiB, recordingGc().gc));
    // Not events.once: the source closes with an error (premature close), which `once` would throw.
    const closed = new Promise<void>((resolve) => source.on('close', resolve));
    bounded.destroy();
    await closed;
    assert.equal(source.destroyed, true);
  });
});
