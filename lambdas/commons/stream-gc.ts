/**
 * A bound on the Buffer garbage a streamed send leaves behind.
 *
 * Every chunk Node reads from a socket is a fresh Buffer, and its memory lives outside V8's heap. A chunk dies
 * as soon as it has been written on, but V8 frees that memory only when it next collects, and nothing in a
 * stream makes it collect: a send allocates almost nothing on the JS heap, and V8 waits for tens of MiB of
 * such external memory before it reacts. Measured on a forwarder streaming a 50 MB file (bench section 3):
 * about 30 MiB of dead chunks at the peak; with this bound, about 4 MiB.
 *
 * The bound: a young-generation collection (a scavenge, well under a millisecond on the relay's small heap)
 * after every `stepBytes` that went through a bounded stream, counted across the whole process so that
 * concurrent sends share one budget. It needs V8's `gc` function, which the relay's functions get from
 * `NODE_OPTIONS=--expose-gc` (lib/defaults.ts FUNCTION_NODE_OPTIONS). Where it is absent (tests, `npm start`),
 * the bound does nothing and streams behave as before.
 */
import { pipeline, type Readable, Transform } from 'node:stream';

/** V8's collector as `--expose-gc` exposes it: `gc({ type: 'minor' })` runs a scavenge. */
export type ExposedGc = (options?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

/** Bytes streamed between two scavenges. Bench section 3: 4 MiB → ~10 MiB peak growth, 8 MiB → ~19 MiB. */
export const STREAM_GC_STEP_BYTES = 4 * 1024 * 1024;

/** The collector of this process, when Node was started with --expose-gc. */
export function exposedGc(): ExposedGc | null {
  const gc = (globalThis as { gc?: unknown }).gc;
  return typeof gc === 'function' ? (gc as ExposedGc) : null;
}

export class GarbageBound {
  private since = 0;
  /** Scavenges this bound has asked for. */
  collections = 0;

  constructor(
    readonly stepBytes: number = STREAM_GC_STEP_BYTES,
    /** null: never collect (as where Node has no exposed gc). */
    private readonly gc: ExposedGc | null = exposedGc(),
  ) {
    if (!Number.isSafeInteger(stepBytes) || stepBytes < 1)
      throw new RangeError('stepBytes must be a positive integer');
  }

  /** Whether this bound can collect at all (the process has an exposed gc). */
  get active(): boolean {
    return this.gc !== null;
  }

  /** Counts `bytes` streamed; collects young garbage each time the count passes a step. */
  note(bytes: number): void {
    if (!this.gc) return;
    this.since += bytes;
    if (this.since < this.stepBytes) return;
    this.since %= this.stepBytes;
    this.collections++;
    this.gc({ type: 'minor', execution: 'sync' });
  }
}

/** The bound every stream of this process shares. */
export const PROCESS_GARBAGE_BOUND = new GarbageBound();

/**
 * `source`, passed through unchanged, counted by `bound`. Errors travel both ways: a failing source fails the
 * returned stream, and destroying the returned stream (the request it fed failed) destroys the source, which
 * frees its socket. Returns `source` itself when the bound cannot collect (no stage is added for nothing).
 */
export function boundGarbage(source: Readable, bound: GarbageBound = PROCESS_GARBAGE_BOUND): Readable {
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
