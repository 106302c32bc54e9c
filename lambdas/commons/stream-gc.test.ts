import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { ENV } from '#commons/env.ts';
import {
  boundFromEnv,
  boundGarbage,
  type ExposedGc,
  GarbageBound,
  runtimeGc,
  STREAM_GC_STEP_MIB,
  stepFromEnv,
} from '#commons/stream-gc.ts';

const MiB = 1024 * 1024;

/** A stand-in for V8's gc that records what it was asked, and how often it was looked up. */
function recordingGc(): {
  collector: () => ExposedGc;
  calls: Array<Parameters<ExposedGc>[0]>;
  lookups: number;
} {
  const rec = { calls: [] as Array<Parameters<ExposedGc>[0]>, lookups: 0, collector: () => gc };
  const gc: ExposedGc = (o) => void rec.calls.push(o);
  rec.collector = () => {
    rec.lookups++;
    return gc;
  };
  return rec;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('GarbageBound', () => {
  it('asks for one scavenge (minor, sync) each time the bytes streamed pass a step', () => {
    const rec = recordingGc();
    const bound = new GarbageBound(4 * MiB, rec.collector);
    for (let i = 0; i < 3; i++) bound.note(MiB);
    assert.equal(rec.calls.length, 0, 'under one step');
    assert.equal(rec.lookups, 0, 'the collector is looked up only when a step is reached');
    bound.note(MiB);
    assert.deepEqual(rec.calls, [{ type: 'minor', execution: 'sync' }]);
    // The remainder carries over: 3 + 3 MiB after the first step is one more step with 2 MiB left.
    bound.note(3 * MiB);
    bound.note(3 * MiB);
    assert.equal(rec.calls.length, 2);
    bound.note(2 * MiB - 1);
    assert.equal(rec.calls.length, 2);
    bound.note(1);
    assert.equal(rec.calls.length, 3);
    assert.equal(bound.collections, 3);
    assert.equal(rec.lookups, 1, 'looked up once');
  });

  it('turns itself off where V8 gives no collector, and is off with a step of 0', () => {
    let lookups = 0;
    const none = new GarbageBound(MiB, () => {
      lookups++;
      return null;
    });
    assert.equal(none.active, true, 'unknown until a step is reached');
    none.note(5 * MiB);
    none.note(5 * MiB);
    assert.equal(none.active, false);
    assert.equal(none.collections, 0);
    assert.equal(lookups, 1);
    const off = new GarbageBound(0, recordingGc().collector);
    assert.equal(off.active, false);
    off.note(100 * MiB);
    assert.equal(off.collections, 0);
    for (const bad of [-1, 1.5, Number.NaN]) assert.throws(() => new GarbageBound(bad), RangeError);
  });

  it('its step comes from RELAY_STREAM_GC_MIB: 4 MiB by default, 0 for off, a bad value refused', () => {
    assert.equal(STREAM_GC_STEP_MIB, 4);
    assert.equal(stepFromEnv({}), 4 * MiB);
    assert.equal(stepFromEnv({ [ENV.streamGcMib]: '' }), 4 * MiB);
    assert.equal(stepFromEnv({ [ENV.streamGcMib]: '8' }), 8 * MiB);
    assert.equal(stepFromEnv({ [ENV.streamGcMib]: '0.5' }), MiB / 2);
    assert.equal(stepFromEnv({ [ENV.streamGcMib]: '0' }), 0);
    for (const bad of ['-1', 'four', 'Infinity'])
      assert.throws(() => stepFromEnv({ [ENV.streamGcMib]: bad }), /RELAY_STREAM_GC_MIB/);
  });

  it('a bad RELAY_STREAM_GC_MIB is reported and the default used: a typo does not stop every send', () => {
    const warnings: Array<[string, Record<string, unknown>]> = [];
    const bound = boundFromEnv({ [ENV.streamGcMib]: 'four' }, (m, d) => warnings.push([m, d]));
    assert.equal(bound.stepBytes, STREAM_GC_STEP_MIB * MiB);
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.[1].code, 'BAD_STREAM_GC_STEP');
    assert.match(String(warnings[0]?.[1].error), /RELAY_STREAM_GC_MIB.*"four"/);
    const off = boundFromEnv({ [ENV.streamGcMib]: '0' }, (m, d) => warnings.push([m, d]));
    assert.equal(off.active, false);
    assert.equal(warnings.length, 1, 'a good value is not reported');
  });

  it("V8's collector is obtained at run time without --expose-gc, and globalThis is left as it was", () => {
    const before = (globalThis as { gc?: unknown }).gc;
    const gc = runtimeGc();
    assert.equal(typeof gc, 'function');
    assert.equal(runtimeGc(), gc, 'once per process');
    (gc as ExposedGc)({ type: 'minor', execution: 'sync' });
    assert.equal((globalThis as { gc?: unknown }).gc, before);
  });
});

describe('boundGarbage', () => {
  it('passes every byte through unchanged and counts them', async () => {
    const rec = recordingGc();
    const bound = new GarbageBound(MiB, rec.collector);
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
    assert.equal(rec.calls.length, 5);
  });

  it('adds no stage when the bound is off', () => {
    const source = new PassThrough();
    assert.equal(boundGarbage(source, new GarbageBound(0)), source);
  });

  it('a failing source fails the bounded stream', async () => {
    const source = new PassThrough();
    const bounded = boundGarbage(source, new GarbageBound(MiB, recordingGc().collector));
    const failed = once(bounded, 'error');
    source.write(Buffer.from('abc'));
    source.destroy(new Error('socket reset'));
    bounded.resume();
    const [err] = await failed;
    assert.equal((err as Error).message, 'socket reset');
  });

  it('destroying the bounded stream (its request failed) destroys the source, freeing its socket', async () => {
    const source = new PassThrough();
    const bounded = boundGarbage(source, new GarbageBound(MiB, recordingGc().collector));
    // Not events.once: the source closes with an error (premature close), which `once` would throw.
    const closed = new Promise<void>((resolve) => source.on('close', resolve));
    bounded.destroy();
    await closed;
    assert.equal(source.destroyed, true);
  });
});
