import jpeg from 'jpeg-js';
import { fillerBytes, pixelAt } from './pattern.ts';

export interface JpegOptions {
  /** Pixel width (default 64). */
  width?: number;
  /** Pixel height (default 48). */
  height?: number;
  /** Changes the colours of the pattern, so two seeds give two different files (default 1). */
  seed?: number;
  /** jpeg-js quality 1..100 (default 80). */
  quality?: number;
  /** Grow the file to at least this many bytes with COM segments (see `padAt`). */
  padToBytes?: number;
  /**
   * Where the COM padding goes. `beforeSos` (default): after the frame header and tables, just before the scan,
   * so the SOF stays within the first kilobyte and a parser that reads only the head of a 50 MB file still finds
   * the dimensions. `afterApp0`: right after SOI/APP0, which pushes SOF to the end of the padding (a harder case
   * for header parsers).
   */
  padAt?: 'beforeSos' | 'afterApp0';
  /** The marker of the padding segments: 0xFE COM (default) or an APPn such as 0xE2 (ICC profile chunks). */
  padMarker?: number;
  /** Payload bytes per padding segment, 1..65533 (default 65533, the largest): small values make many segments. */
  padSegmentBytes?: number;
}

export type JpegHeaderOnlyOptions = Pick<
  JpegOptions,
  'padToBytes' | 'padAt' | 'padMarker' | 'padSegmentBytes'
> & {
  width: number;
  height: number;
};

/** Largest COM payload: the 16-bit length field counts itself (2 bytes), so 65535 - 2. */
const MAX_COM_PAYLOAD = 65_533;

/** A real, decodable baseline JPEG with a gradient, a checkerboard and a diagonal band (seeded colours). */
export function makeJpeg(options: JpegOptions = {}): Buffer {
  const width = options.width ?? 64;
  const height = options.height ?? 48;
  const seed = options.seed ?? 1;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`makeJpeg: bad size ${width}x${height}`);
  }
  if (width > 65_535 || height > 65_535) throw new RangeError('makeJpeg: JPEG sides are at most 65535');
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = pixelAt(x, y, width, height, seed);
      const i = (y * width + x) * 4;
      data[i] = r;
      data[i + 1] = g;
      data[i + 2] = b;
      data[i + 3] = 255;
    }
  }
  const encoded = jpeg.encode({ data, width, height }, options.quality ?? 80).data;
  return padJpeg(Buffer.from(encoded), options);
}

/**
 * A syntactically valid JPEG (SOI, APP0, DQT, SOF0, DHT, SOS, EOI) whose SOF0 declares `width`×`height` without
 * encoding those pixels: a tiny image with its frame header patched. Good for testing pixel limits
 * (8000×6000 = 48 MP) without a 48 MP encode. Decoders will refuse or misread the scan; header parsers are happy.
 */
export function makeJpegHeaderOnly(options: JpegHeaderOnlyOptions): Buffer {
  const { width, height } = options;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`makeJpegHeaderOnly: bad size ${width}x${height}`);
  }
  if (width > 65_535 || height > 65_535)
    throw new RangeError('makeJpegHeaderOnly: JPEG sides are at most 65535');
  const small = makeJpeg({ width: 16, height: 16, seed: 7 });
  const sof = findSegment(small, 0xc0);
  if (!sof) throw new Error('makeJpegHeaderOnly: encoder produced no SOF0');
  // SOF payload: length(2) precision(1) height(2) width(2) ...
  small.writeUInt16BE(height, sof.offset + 5);
  small.writeUInt16BE(width, sof.offset + 7);
  return padJpeg(small, options);
}

export interface JpegInfo {
  width: number;
  height: number;
  /** The SOF marker that declared the size (0xC0 baseline, 0xC2 progressive, ...). */
  sofMarker: number;
  /** Byte offset of the SOF marker. */
  offset: number;
}

/** The frame size declared by the first SOFn segment, walking segments from SOI; undefined when not found in `buf`. */
export function readJpegInfo(buf: Buffer): JpegInfo | undefined {
  if (buf.length < 4 || buf[0] !== 0xff || buf[1] !== 0xd8) return undefined;
  let pos = 2;
  while (pos + 4 <= buf.length) {
    if (buf[pos] !== 0xff) return undefined;
    const marker = buf[pos + 1] as number;
    if (marker === 0xff) {
      pos += 1; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      pos += 2; // markers without a length
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) return undefined; // EOI or scan data before any SOF
    const len = buf.readUInt16BE(pos + 2);
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) {
      if (pos + 9 > buf.length) return undefined;
      return {
        height: buf.readUInt16BE(pos + 5),
        width: buf.readUInt16BE(pos + 7),
        sofMarker: marker,
        offset: pos,
      };
    }
    pos += 2 + len;
  }
  return undefined;
}

/** Starts with the JPEG magic FF D8 FF. */
export function isJpeg(buf: Buffer): boolean {
  return buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff;
}

function findSegment(buf: Buffer, wanted: number): { offset: number; length: number } | undefined {
  let pos = 2;
  while (pos + 4 <= buf.length && buf[pos] === 0xff) {
    const marker = buf[pos + 1] as number;
    const len = buf.readUInt16BE(pos + 2);
    if (marker === wanted) return { offset: pos, length: len };
    if (marker === 0xda) return undefined;
    pos += 2 + len;
  }
  return undefined;
}

/** Offset after SOI and an APP0 segment right after it (if any). */
function afterApp0(buf: Buffer): number {
  if (buf[2] === 0xff && buf[3] === 0xe0) return 4 + buf.readUInt16BE(4);
  return 2;
}

function padJpeg(
  buf: Buffer,
  options: Pick<JpegOptions, 'padToBytes' | 'padAt' | 'padMarker' | 'padSegmentBytes'>,
): Buffer {
  const { padToBytes, padAt = 'beforeSos', padMarker = 0xfe, padSegmentBytes = MAX_COM_PAYLOAD } = options;
  if (!padToBytes || buf.length >= padToBytes) return buf;
  if (!(padMarker === 0xfe || (padMarker >= 0xe0 && padMarker <= 0xef))) {
    throw new RangeError('padJpeg: padMarker must be COM (0xFE) or APPn (0xE0..0xEF)');
  }
  if (!Number.isInteger(padSegmentBytes) || padSegmentBytes < 1 || padSegmentBytes > MAX_COM_PAYLOAD) {
    throw new RangeError(`padJpeg: padSegmentBytes must be 1..${MAX_COM_PAYLOAD}`);
  }
  const at = padAt === 'afterApp0' ? afterApp0(buf) : findSegment(buf, 0xda)?.offset;
  if (at === undefined) throw new Error('padJpeg: no SOS segment');
  let missing = padToBytes - buf.length;
  const out = Buffer.allocUnsafe(padToBytes + 4);
  buf.copy(out, 0, 0, at);
  let pos = at;
  const filler = fillerBytes(padSegmentBytes);
  while (missing > 0) {
    // Each segment costs 4 bytes (marker + length) plus its payload; the last one may overshoot by < 4 bytes.
    const payload = Math.min(padSegmentBytes, Math.max(0, missing - 4));
    out[pos] = 0xff;
    out[pos + 1] = padMarker;
    out.writeUInt16BE(payload + 2, pos + 2);
    filler.copy(out, pos + 4, 0, payload);
    pos += 4 + payload;
    missing -= 4 + payload;
  }
  buf.copy(out, pos, at);
  pos += buf.length - at;
  return out.subarray(0, pos);
}
