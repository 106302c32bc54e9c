/**
 * Random access to an object by byte ranges (an S3 GetObject with `Range`, or a Buffer in tests), and a caching
 * wrapper that turns the many small reads of a header walk into a few bounded ranged reads.
 */

/** Bytes of an object by range. `read` answers bytes [start, min(endExclusive, size)): fewer only at the end. */
export interface RangeReader {
  readonly size: number;
  read(start: number, endExclusive: number): Promise<Buffer>;
}

/** A RangeReader over bytes in memory (tests, the bench, a file already buffered). */
export function bufferReader(bytes: Buffer): RangeReader {
  return {
    size: bytes.length,
    read: async (start, end) => bytes.subarray(start, Math.min(end, bytes.length)),
  };
}

export interface CachingReaderOptions {
  /** Bytes [0, head.length) of the object, already fetched (e.g. for magic-byte sniffing): served for free. */
  head?: Buffer;
  /** Size of the first ranged read beyond the head; each further read doubles it. Default 64 KiB. */
  readAhead?: number;
  /** Largest single ranged read (the doubling stops there). Default 8 MiB. */
  maxReadAhead?: number;
  /** Ranged reads allowed beyond the head; one more read fails with ReadLimitError. Default 16. */
  maxCalls?: number;
}

/** What the wrapper asked of its source: the figures tests and the bench report. */
export interface ReadStats {
  /** Ranged reads made (the prefetched head is not counted). */
  calls: number;
  /** Bytes those reads returned. */
  bytes: number;
  /** The largest single read, in bytes. */
  largest: number;
  /** Each read's [start, endExclusive), in order. */
  ranges: Array<[number, number]>;
}

/** A walk needed more ranged reads than `maxCalls` allows. */
export class ReadLimitError extends Error {
  override readonly name = 'ReadLimitError';
}

export const READ_DEFAULTS = {
  readAhead: 64 * 1024,
  maxReadAhead: 8 * 1024 * 1024,
  maxCalls: 16,
} as const;

/**
 * Serves reads from the prefetched head, then from the last window it fetched; on a miss it fetches a window that
 * starts at the asked position and is `readAhead` long, doubling at each miss up to `maxReadAhead`.
 *
 * Bounds, with the defaults: at most 16 ranged reads beyond the head; the k-th is at most
 * min(8 MiB, 64 KiB·2^(k-1)) long, so a walk reaches head + 79.9 MiB at most, and the bytes read are at most
 * about twice the distance the walk jumped (plus 64 KiB) up to 16 MiB, and that distance + 8 MiB beyond.
 * Memory: the head plus one window (≤ 8 MiB). A walk that jumps over big bodies (an MP4 `mdat`) reads none of
 * them; a walk over many small segments gets them in one window.
 */
export class CachingRangeReader implements RangeReader {
  readonly size: number;
  readonly stats: ReadStats = { calls: 0, bytes: 0, largest: 0, ranges: [] };
  private readonly head: Buffer;
  private window: { start: number; bytes: Buffer } = { start: 0, bytes: Buffer.alloc(0) };
  private readonly readAhead: number;
  private readonly maxReadAhead: number;
  private readonly maxCalls: number;

  constructor(
    private readonly source: RangeReader,
    options: CachingReaderOptions = {},
  ) {
    this.size = source.size;
    this.head = (options.head ?? Buffer.alloc(0)).subarray(0, source.size);
    this.readAhead = positive('readAhead', options.readAhead ?? READ_DEFAULTS.readAhead);
    this.maxReadAhead = positive('maxReadAhead', options.maxReadAhead ?? READ_DEFAULTS.maxReadAhead);
    this.maxCalls = options.maxCalls ?? READ_DEFAULTS.maxCalls;
  }

  async read(start: number, endExclusive: number): Promise<Buffer> {
    if (
      !Number.isSafeInteger(start) ||
      !Number.isSafeInteger(endExclusive) ||
      start < 0 ||
      endExclusive < start
    ) {
      throw new RangeError(`bad range [${start}, ${endExclusive})`);
    }
    const end = Math.min(endExclusive, this.size);
    if (start >= end) return Buffer.alloc(0);
    if (end <= this.head.length) return this.head.subarray(start, end);
    const w = this.window;
    if (start >= w.start && end <= w.start + w.bytes.length) {
      return w.bytes.subarray(start - w.start, end - w.start);
    }
    if (end - start > this.maxReadAhead) {
      throw new RangeError(`a read of ${end - start} bytes is over the ${this.maxReadAhead}-byte window`);
    }
    if (this.stats.calls >= this.maxCalls) {
      throw new ReadLimitError(
        `needed more than ${this.maxCalls} ranged reads (${this.stats.bytes} bytes read, stopped at byte ${start})`,
      );
    }
    const want = Math.min(this.maxReadAhead, this.readAhead * 2 ** this.stats.calls);
    const fetchEnd = Math.min(this.size, Math.max(end, start + want));
    const bytes = (await this.source.read(start, fetchEnd)).subarray(0, fetchEnd - start);
    this.stats.calls++;
    this.stats.bytes += bytes.length;
    this.stats.largest = Math.max(this.stats.largest, bytes.length);
    this.stats.ranges.push([start, fetchEnd]);
    this.window = { start, bytes };
    return bytes.subarray(0, end - start);
  }
}

function positive(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`);
  return value;
}
