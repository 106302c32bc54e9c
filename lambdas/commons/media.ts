/**
 * Reads what the relay needs from a media file's headers: its kind (magic bytes), a JPEG's dimensions (from its
 * SOF marker) and an MP4's video codec (the sample entry in `stsd`), wherever those headers sit, with a few
 * bounded ranged reads. Never decodes pixels, never reads the file whole.
 */
import { CachingRangeReader, type RangeReader, ReadLimitError } from './range-reader.ts';

export type { RangeReader } from './range-reader.ts';

export type MediaKind = 'jpeg' | 'png' | 'mp4' | 'webm' | 'unknown';

export function sniff(head: Buffer): MediaKind {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg';
  if (
    head.length >= 8 &&
    head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
  ) {
    return 'png';
  }
  if (head.length >= 8 && head.toString('latin1', 4, 8) === 'ftyp') return 'mp4';
  if (head.length >= 4 && head.readUInt32BE(0) === 0x1a45dfa3) return 'webm';
  return 'unknown';
}

/*
 * Header walks. Each walk is written once, as a generator that asks for byte ranges (`yield {start, end}`) and
 * gets the bytes back, so the same parser runs over a RangeReader (async, a few ranged reads wherever the header
 * sits) and over a buffer (the head-only sync helpers below).
 */

/** A walk's request: bytes [start, end). */
interface ByteRequest {
  start: number;
  end: number;
}
/**
 * A walk yields requests and is answered with the bytes (fewer only at the end of the file), or with undefined
 * when they are not available: beyond the reader's read budget, or beyond the head a sync helper was given.
 */
type Walk<T> = Generator<ByteRequest, T, Buffer | undefined>;

export type ProbeErrorCode =
  /** The file does not start with SOI (FF D8). */
  | 'NOT_A_JPEG'
  /** SOS, EOI or the end of the file came before any frame header: a truncated JPEG or one with no frame. */
  | 'NO_SOF'
  /** A marker segment that breaks the JPEG syntax (no FF where a marker must be, a length < 2, a short SOF). */
  | 'MALFORMED_SEGMENT'
  /** An ISO-BMFF box (or its header) runs past the end of the file. */
  | 'TRUNCATED'
  /** A box that breaks ISO-BMFF (not a 4CC type, a size smaller than its header, a child overrunning its parent). */
  | 'MALFORMED_BOX'
  | 'NO_MOOV'
  | 'NO_VIDEO_TRACK'
  /** The video track has no `stsd` sample entry. */
  | 'NO_SAMPLE_ENTRY'
  /** The walk needed more ranged reads than the reader allows (see CachingRangeReader): no verdict. */
  | 'READ_LIMIT';

export interface ProbeError {
  error: ProbeErrorCode;
  message: string;
  /** Byte offset the walk had reached. */
  offset?: number;
}

export function isProbeError(value: unknown): value is ProbeError {
  return typeof value === 'object' && value !== null && 'error' in value;
}

function probeError(error: ProbeErrorCode, message: string, offset?: number): ProbeError {
  return offset === undefined ? { error, message } : { error, message, offset };
}

const hex = (byte: number | undefined): string => (byte ?? 0).toString(16).toUpperCase().padStart(2, '0');

/** Bytes [start, end) (fewer at the end of the file), or READ_LIMIT when they are not available. */
function* bytes(start: number, end: number): Walk<Buffer | ProbeError> {
  const got = yield { start, end };
  return got ?? probeError('READ_LIMIT', `bytes from ${start} on are beyond the read budget`, start);
}

/** Runs a walk over a RangeReader, through a CachingRangeReader unless it already is one. */
async function runWalk<T>(walk: Walk<T | ProbeError>, reader: RangeReader): Promise<T | ProbeError> {
  const cached = reader instanceof CachingRangeReader ? reader : new CachingRangeReader(reader);
  let limit: ReadLimitError | undefined;
  let step = walk.next();
  while (!step.done) {
    let got: Buffer | undefined;
    try {
      got = await cached.read(step.value.start, step.value.end);
    } catch (err) {
      if (!(err instanceof ReadLimitError)) throw err;
      limit = err;
    }
    step = walk.next(got);
  }
  const result = step.value;
  if (limit && isProbeError(result) && result.error === 'READ_LIMIT')
    return { ...result, message: limit.message };
  return result;
}

/** Runs a walk over the first bytes of a file of `size` bytes; bytes beyond them are unavailable. */
function runOverHead<T>(walk: Walk<T>, head: Buffer, size: number): T {
  let step = walk.next();
  while (!step.done) {
    const end = Math.min(step.value.end, size);
    const available = end <= head.length || step.value.start >= size;
    step = walk.next(available ? head.subarray(step.value.start, end) : undefined);
  }
  return step.value;
}

// --- JPEG ---------------------------------------------------------------------------------------------------

export interface JpegFrame {
  width: number;
  height: number;
  /** The SOFn marker: 0xC0 baseline, 0xC1 extended, 0xC2 progressive, 0xC3 lossless, … */
  sof: number;
  /** Byte offset of that marker. */
  offset: number;
}

/** SOF0–SOF15 except DHT (C4), JPG (C8) and DAC (CC). */
const isSofMarker = (m: number): boolean => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
/** Markers without a length: TEM, RSTn, SOI. */
const isStandalone = (m: number): boolean => m === 0x01 || m === 0xd8 || (m >= 0xd0 && m <= 0xd7);

/** Walks marker segments by their lengths (ITU T.81 §B.1.1.4) from SOI until the first SOFn. */
function* jpegWalk(size: number): Walk<JpegFrame | ProbeError> {
  const soi = yield* bytes(0, 2);
  if (isProbeError(soi)) return soi;
  if (soi.length < 2 || soi[0] !== 0xff || soi[1] !== 0xd8) {
    return probeError('NOT_A_JPEG', 'the file does not start with the JPEG SOI marker (FF D8)', 0);
  }
  let pos = 2;
  for (;;) {
    const h = yield* bytes(pos, pos + 4);
    if (isProbeError(h)) return h;
    if (h.length < 2) {
      return probeError('NO_SOF', `the file ends (at byte ${size}) before any frame header (SOF)`, pos);
    }
    const marker = h[1] as number;
    if (h[0] !== 0xff || marker === 0x00) {
      return probeError(
        'MALFORMED_SEGMENT',
        `expected a marker at byte ${pos}, found ${hex(h[0])} ${hex(marker)}`,
        pos,
      );
    }
    if (marker === 0xff) {
      pos += 1; // fill byte before a marker
      continue;
    }
    if (isStandalone(marker)) {
      pos += 2;
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) {
      const what = marker === 0xd9 ? 'the image ends (EOI' : 'the scan starts (SOS';
      return probeError('NO_SOF', `${what} at byte ${pos}) before any frame header (SOF)`, pos);
    }
    if (h.length < 4) {
      return probeError('NO_SOF', `the file ends inside the FF${hex(marker)} segment at byte ${pos}`, pos);
    }
    const length = h.readUInt16BE(2);
    if (length < 2 || (isSofMarker(marker) && length < 8)) {
      return probeError(
        'MALFORMED_SEGMENT',
        `segment FF${hex(marker)} at byte ${pos} declares length ${length}, too short`,
        pos,
      );
    }
    if (isSofMarker(marker)) {
      // length(2) precision(1) height(2) width(2)
      const f = yield* bytes(pos + 4, pos + 9);
      if (isProbeError(f)) return f;
      if (f.length < 5) {
        return probeError('NO_SOF', `the file ends inside the frame header at byte ${pos}`, pos);
      }
      return { width: f.readUInt16BE(3), height: f.readUInt16BE(1), sof: marker, offset: pos };
    }
    pos += 2 + length;
  }
}

/**
 * The frame size a JPEG declares in its first SOFn segment, wherever it sits: the walk asks only for marker
 * headers and jumps over APPn/COM/DQT/DHT bodies by their lengths. `NO_SOF` when SOS, EOI or the end of the file
 * comes first. Reads are bounded by the CachingRangeReader (one is made around `reader` unless it is one).
 */
export function jpegFrame(reader: RangeReader): Promise<JpegFrame | ProbeError> {
  return runWalk(jpegWalk(reader.size), reader);
}

/**
 * Width and height from a JPEG's first SOFn segment when it lies within `head` (the first bytes of a file of
 * `size` bytes); undefined otherwise. Head-only: use `jpegFrame` for a verdict wherever the SOF sits.
 */
export function jpegDimensions(
  head: Buffer,
  size = head.length,
): { width: number; height: number } | undefined {
  const frame = runOverHead(jpegWalk(size), head, size);
  return isProbeError(frame) ? undefined : { width: frame.width, height: frame.height };
}

// --- MP4 (ISO-BMFF) -----------------------------------------------------------------------------------------

export interface Mp4Video {
  /** The 4CC of the video track's first sample entry: `avc1`, `avc3`, `hvc1`, `hev1`, `mp4v`, `vp09`, `av01`… */
  codec: string;
  /** From that visual sample entry, when it is long enough to hold them. */
  width?: number;
  height?: number;
  /** Index of the video track among the `trak` boxes (0 = first). */
  track: number;
  /** Byte offset of the `moov` box. */
  moovOffset: number;
  /**
   * True when the top-level boxes after `moov` were walked to the end of the file; false when the walk stopped
   * at trailing bytes that are not a box or at the read budget (a truncation there goes unseen).
   */
  checkedToEnd: boolean;
}

interface Box {
  type: string;
  start: number;
  /** Offset of the payload, after the 8- or 16-byte header. */
  body: number;
  end: number;
}

const FILE = 'file';
const BOX_TYPE = /^[\x20-\x7e\xa9]{4}$/;

/**
 * The box header at `pos` inside `parent` ending at `limit` (ISO/IEC 14496-12 §4.2: 32/64-bit size, 0 = to the
 * end). Running past the end of the file is TRUNCATED at the top level; inside a box (whose own size was already
 * checked against the file) it is MALFORMED_BOX.
 */
function* boxAt(pos: number, limit: number, size: number, parent: string): Walk<Box | ProbeError> {
  const overrun = (what: string): ProbeError =>
    parent === FILE
      ? probeError('TRUNCATED', `${what}, but the file ends at byte ${size}`, pos)
      : probeError('MALFORMED_BOX', `${what}, past the end of its parent '${parent}'`, pos);
  const h = yield* bytes(pos, pos + 16);
  if (isProbeError(h)) return h;
  if (pos + 8 > limit || h.length < 8) return overrun(`a box header starts at byte ${pos}`);
  const type = h.toString('latin1', 4, 8);
  if (!BOX_TYPE.test(type)) {
    return probeError(
      'MALFORMED_BOX',
      `bytes ${pos + 4}..${pos + 8} are not a box type (${h.toString('hex', 4, 8)})`,
      pos,
    );
  }
  let header = 8;
  let boxSize = h.readUInt32BE(0);
  if (boxSize === 1) {
    if (pos + 16 > limit || h.length < 16) return overrun(`box '${type}' at byte ${pos} has a 64-bit size`);
    const large = h.readBigUInt64BE(8);
    if (large > BigInt(Number.MAX_SAFE_INTEGER)) {
      return probeError('MALFORMED_BOX', `box '${type}' at byte ${pos} declares ${large} bytes`, pos);
    }
    boxSize = Number(large);
    header = 16;
  } else if (boxSize === 0) {
    boxSize = limit - pos;
  }
  if (boxSize < header) {
    return probeError(
      'MALFORMED_BOX',
      `box '${type}' at byte ${pos} declares ${boxSize} bytes, less than its header`,
      pos,
    );
  }
  if (pos + boxSize > limit) return overrun(`box '${type}' at byte ${pos} declares ${boxSize} bytes`);
  return { type, start: pos, body: pos + header, end: pos + boxSize };
}

/**
 * The first child of `parent` of type `type`, from `from` on, reading only sibling headers. Inside a box, fewer
 * than 8 trailing bytes are padding (QuickTime ends some atoms with a 32-bit zero); at the top level they are a
 * truncated header.
 */
function* childOf(
  parent: Box,
  type: string,
  size: number,
  from = parent.body,
): Walk<Box | ProbeError | undefined> {
  let pos = from;
  while (pos < parent.end) {
    if (parent.type !== FILE && parent.end - pos < 8) return undefined;
    const box = yield* boxAt(pos, parent.end, size, parent.type);
    if (isProbeError(box) || box.type === type) return box;
    pos = box.end;
  }
  return undefined;
}

function* path(from: Box, types: string[], size: number): Walk<Box | ProbeError | undefined> {
  let box: Box = from;
  for (const type of types) {
    const next = yield* childOf(box, type, size);
    if (next === undefined || isProbeError(next)) return next;
    box = next;
  }
  return box;
}

/** The video track's codec: moov → each trak → mdia (hdlr = 'vide') → minf → stbl → stsd → first entry. */
function* videoTrack(moov: Box, size: number): Walk<Omit<Mp4Video, 'checkedToEnd'> | ProbeError> {
  let from = moov.body;
  for (let track = 0; ; track++) {
    const trak = yield* childOf(moov, 'trak', size, from);
    if (!trak)
      return probeError('NO_VIDEO_TRACK', `none of the ${track} tracks is a video track (hdlr 'vide')`);
    if (isProbeError(trak)) return trak;
    from = trak.end;
    const mdia = yield* childOf(trak, 'mdia', size);
    if (mdia === undefined) continue;
    if (isProbeError(mdia)) return mdia;
    const hdlr = yield* childOf(mdia, 'hdlr', size);
    if (hdlr === undefined) continue;
    if (isProbeError(hdlr)) return hdlr;
    // hdlr: version/flags(4) pre_defined(4) handler_type(4)
    if (hdlr.end < hdlr.body + 12) {
      return probeError('MALFORMED_BOX', `the hdlr box at byte ${hdlr.start} is too short`, hdlr.start);
    }
    const handler = yield* bytes(hdlr.body + 8, hdlr.body + 12);
    if (isProbeError(handler)) return handler;
    if (handler.toString('latin1') !== 'vide') continue;
    const stsd = yield* path(mdia, ['minf', 'stbl', 'stsd'], size);
    if (isProbeError(stsd)) return stsd;
    // stsd: version/flags(4) entry_count(4), then the sample entries (boxes)
    const count = stsd && stsd.end >= stsd.body + 16 ? yield* bytes(stsd.body + 4, stsd.body + 8) : undefined;
    if (isProbeError(count)) return count;
    if (!stsd || !count || count.readUInt32BE(0) === 0) {
      return probeError('NO_SAMPLE_ENTRY', `video track ${track} has no stsd sample entry`, trak.start);
    }
    const entry = yield* boxAt(stsd.body + 8, stsd.end, size, 'stsd');
    if (isProbeError(entry)) return entry;
    const video: Omit<Mp4Video, 'checkedToEnd'> = { codec: entry.type, track, moovOffset: moov.start };
    // VisualSampleEntry: reserved(6) data_reference_index(2) pre_defined/reserved(16) width(2) height(2)
    if (entry.end >= entry.body + 28) {
      const wh = yield* bytes(entry.body + 24, entry.body + 28);
      if (isProbeError(wh)) return wh;
      Object.assign(video, { width: wh.readUInt16BE(0), height: wh.readUInt16BE(2) });
    }
    return video;
  }
}

/**
 * After the video is found: the top-level boxes from `pos` to the end of the file. A box that is well formed but
 * runs past the end means the file was cut (TRUNCATED); trailing bytes that are not a box, or the read budget,
 * end the check without a verdict.
 */
function* checkToEnd(pos: number, size: number): Walk<boolean | ProbeError> {
  while (pos < size) {
    const box = yield* boxAt(pos, size, size, FILE);
    if (isProbeError(box)) return box.error === 'TRUNCATED' && size - pos >= 8 ? box : false;
    pos = box.end;
  }
  return true;
}

/** `checkEnd`: walk the top-level boxes after moov too (off for a head whose file size is unknown). */
function* mp4Walk(size: number, checkEnd = true): Walk<Mp4Video | ProbeError> {
  const moov = yield* childOf({ type: FILE, start: 0, body: 0, end: size }, 'moov', size);
  if (!moov) return probeError('NO_MOOV', 'the file has no moov box (no movie header)', size);
  if (isProbeError(moov)) return moov;
  const video = yield* videoTrack(moov, size);
  if (isProbeError(video)) return video;
  const checked = checkEnd ? yield* checkToEnd(moov.end, size) : false;
  return isProbeError(checked) ? checked : { ...video, checkedToEnd: checked };
}

/**
 * The video track's codec (the 4CC of its first `stsd` sample entry) wherever `moov` sits — before or after a
 * huge `mdat`, among `free`/`uuid`/`wide` boxes, with 32- or 64-bit box sizes — reading only box headers and
 * jumping over bodies; then the remaining top-level headers, so that a file cut short is TRUNCATED. Reads are
 * bounded by the CachingRangeReader (one is made around `reader` unless it is one).
 */
export function mp4Info(reader: RangeReader): Promise<Mp4Video | ProbeError> {
  return runWalk(mp4Walk(reader.size), reader);
}

/**
 * The video codec 4CC when the walk to it lies within `head` (the first bytes of a file of `size` bytes, e.g. a
 * "fast start" file); undefined otherwise. Head-only: use `mp4Info` for a verdict wherever `moov` sits.
 */
export function mp4VideoCodec(head: Buffer, size?: number): string | undefined {
  const info = runOverHead(mp4Walk(size ?? head.length, size !== undefined), head, size ?? head.length);
  return isProbeError(info) ? undefined : info.codec;
}

/** A key's last path segment, split at its last dot (the extension keeps its case). */
export function splitName(key: string): { basename: string; stem: string; extension: string } {
  const basename = key.slice(key.lastIndexOf('/') + 1);
  const dot = basename.lastIndexOf('.');
  return dot > 0
    ? { basename, stem: basename.slice(0, dot), extension: basename.slice(dot + 1) }
    : { basename, stem: basename, extension: '' };
}

/** The extension, lower-cased, without the dot ('' when there is none). */
export function extensionOf(key: string): string {
  return splitName(key).extension.toLowerCase();
}

export function basenameOf(key: string): string {
  return splitName(key).basename;
}
