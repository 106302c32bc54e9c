/**
 * A bound on the Buffer garbage a streamed send leaves behind.
 *
 * Every chunk Node reads from a socket is a fresh Buffer, and its memory lives outside V8's heap. A chunk dies
 * as soon as it has been written on, but V8 frees that memory only when it next collects, and nothing in a
 * stream makes it collect: a send allocates almost nothing on the JS heap, and V8 waits for tens of MiB of
 * such external memory before it reacts. Measured on a forwarder streaming a 50 MB file (bench section 3):
 * about 34 MiB of growth at the peak, nearly all dead chunks; with this bound, about 11 MiB, the same at 100 MB.
 *
 * The bound: a young-generation collection (a scavenge, well under a millisecond on the relay's small heap)
 * after every `stepBytes` that went through a bounded stream, counted across the whole process so that
 * concurrent sends share one budget.
 *
 * It needs V8's `gc` function. Where Node was started with `--expose-gc` that is `globalThis.gc`; elsewhere the
 * bound asks V8 for it at run time (`v8.setFlagsFromString('--expose-gc')`, then `gc` read from a new
 * context: what Jest's leak detector does), once, when a stream first reaches a step, so that a process that
 * never streams a few MiB never does it, and `globalThis` stays as it was. Not `NODE_OPTIONS=--expose-gc`:
 * a V8 flag at start-up makes Node refuse its built-in code cache, which cost the forwarder's cold start
 * ~38 ms of CPU (58 → 96 ms, measured on its bundle).
 *
 * Node's documentation warns that flags changed after start-up may behave unpredictably. `--expose-gc` only
 * installs `gc` in contexts created afterwards, which is all this reads; where V8 refuses, the bound turns
 * itself off. `RELAY_STREAM_GC_MIB=0` turns it off without asking.
 */
import { pipeline, type Readable, Transform } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ENV } from './env.ts';
import { createLogger } from './logger.ts';

/** V8's collector as `--expose-gc` exposes it: `gc({ type: 'minor' })` runs a scavenge. */
export type ExposedGc = (options?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

/** MiB streamed between two scavenges unless RELAY_STREAM_GC_MIB says otherwise. */
export const STREAM_GC_STEP_MIB = 4;

const MiB = 1024 * 1024;
let acquired: ExposedGc | null | undefined;

/**
 * V8's collector: `globalThis.gc` when Node was started with --expose-gc, else one obtained at run time (once
 * per process), or null where V8 refuses.
 */
export function runtimeGc(): ExposedGc | null {
  const global = (globalThis as { gc?: unknown }).gc;
  if (typeof global === 'function') return global as ExposedGc;
  if (acquired === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      const gc: unknown = runInNewContext('gc');
      acquired = typeof gc === 'function' ? (gc as ExposedGc) : null;
    } catch {
      acquired = null;
    }
  }
  return acquired;
}

/** The step of RELAY_STREAM_GC_MIB in bytes (0: off). A value that is not a number ≥ 0 is refused. */
export function stepFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[ENV.streamGcMib];
  if (raw === undefined || raw.trim() === '') return STREAM_GC_STEP_MIB * MiB;
  const mib = Number(raw);
  if (!Number.isFinite(mib) || mib < 0)
    throw new RangeError(`${ENV.streamGcMib} must be a number of MiB ≥ 0 (0: off), not "${raw}"`);
  return Math.round(mib * MiB);
}

export class GarbageBound {
  private since = 0;
  private gc: ExposedGc | null | undefined;
  /** Scavenges this bound has asked for. */
  collections = 0;

  /**
   * @param stepBytes bytes between two scavenges; 0 turns the bound off.
   * @param collector where the collector comes from, asked once, when the first step is reached.
   */
  constructor(
    readonly stepBytes: number,
    private readonly collector: () => ExposedGc | null = runtimeGc,
  ) {
    if (!Number.isSafeInteger(stepBytes) || stepBytes < 0)
      throw new RangeError('stepBytes must be an integer ≥ 0');
  }

  /** Whether this bound counts at all (a step is set, and no collector was found missing). */
  get active(): boolean {
    return this.stepBytes > 0 && this.gc !== null;
  }

  /** Counts `bytes` streamed; collects young garbage each time the count passes a step. */
  note(bytes: number): void {
    if (!this.active) return;
    this.since += bytes;
    if (this.since < this.stepBytes) return;
    this.since %= this.stepBytes;
    if (this.gc === undefined) this.gc = this.collector();
    if (this.gc === null) return;
    this.collections++;
    this.gc({ type: 'minor', execution: 'sync' });
  }
}

/**
 * A bound with the step of RELAY_STREAM_GC_MIB. A value that is not a number ≥ 0 is reported through `warn` and
 * the default step used: a typo in a tuning setting must not stop every send.
 */
export function boundFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  warn: (message: string, data: Record<string, unknown>) => void = (message, data) =>
    createLogger({ service: 'factory-relay' }).warn(message, data),
): GarbageBound {
  try {
    return new GarbageBound(stepFromEnv(env));
  } catch (err) {
    warn('ignoring a bad stream GC step: using the default', {
      code: 'BAD_STREAM_GC_STEP',
      error: err instanceof Error ? err.message : String(err),
      defaultMib: STREAM_GC_STEP_MIB,
    });
    return new GarbageBound(STREAM_GC_STEP_MIB * MiB);
  }
}

let processBound: GarbageBound | undefined;

/** The bound every stream of this process shares (its step read from RELAY_STREAM_GC_MIB on first use). */
export function processGarbageBound(): GarbageBound {
  processBound ??= boundFromEnv();
  return processBound;
}

/**
 * `source`, passed through unchanged, counted by `bound`. Errors travel both ways: a failing source fails the
 * returned stream, and destroying the returned stream (the request it fed failed) destroys the source, which
 * frees its socket. Returns `source` itself when the bound is off (no stage is added for nothing).
 */
export function boundGarbage(source: Readable, bound: GarbageBound = processGarbageBound()): Readable {
  if (!bound.active) return source;
  const counted = new Transform({
    // One chunk on each side at most: the stage adds no buffering of its own to the source's.
    highWaterMark: 1,
    transform(chunk: Buffer, _encoding, done) {
      bound.note(chunk.length);
      done(null, chunk);
    },
  });
  pipeline(source, counted, () => undefined);
  return counted;
}
