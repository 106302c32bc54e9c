import { fillerBytes } from './pattern.ts';

export type Mp4Codec = 'avc1' | 'avc3' | 'mp4v' | 'hvc1' | 'hev1' | 'vp09' | 'av01';

export interface Mp4Options {
  /** The 4CC of the one video sample entry in `stsd` (`mp4v` is the codec Instrumental refuses). */
  codec: Mp4Codec;
  /** Declared in `tkhd` and the sample entry (default 640×480). */
  width?: number;
  height?: number;
  /** Grow the `mdat` payload so that the file is at least this many bytes. */
  padToBytes?: number;
  /** Write `moov` after `mdat` (what many cameras do) instead of the fast-start order ftyp, moov, mdat. */
  moovAtEnd?: boolean;
  /** Give `mdat` a 64-bit size (size field 1 + largesize), as writers do for files over 4 GB. */
  mdatLargeSize?: boolean;
  /** Give `mdat` size 0 ("to the end of the file"); only when it is the last box (not with `moovAtEnd`). */
  mdatToEnd?: boolean;
  /** Boxes written right after `ftyp` (e.g. `free`, `skip`, `wide`, `uuid`), each `size` bytes long in all. */
  extraBoxes?: Array<{ type: 'free' | 'skip' | 'wide' | 'uuid'; size: number }>;
  /** Put a sound track (hdlr 'soun', sample entry `mp4a`) before the video track. */
  audioTrackFirst?: boolean;
}

function box(type: string, ...payload: Buffer[]): Buffer {
  const body = Buffer.concat(payload);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + body.length, 0);
  head.write(type, 4, 'latin1');
  return Buffer.concat([head, body]);
}

function fullBox(type: string, version: number, flags: number, ...payload: Buffer[]): Buffer {
  const vf = Buffer.alloc(4);
  vf.writeUInt32BE(((version & 0xff) << 24) | (flags & 0xffffff), 0);
  return box(type, vf, ...payload);
}

function u32(...values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => {
    b.writeUInt32BE(v >>> 0, i * 4);
  });
  return b;
}

const UNITY_MATRIX = u32(0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000);

function visualSampleEntry(codec: string, width: number, height: number): Buffer {
  const b = Buffer.alloc(78);
  b.writeUInt16BE(1, 6); // data_reference_index
  b.writeUInt16BE(width, 24);
  b.writeUInt16BE(height, 26);
  b.writeUInt32BE(0x00480000, 28); // 72 dpi
  b.writeUInt32BE(0x00480000, 32);
  b.writeUInt16BE(1, 40); // frame_count
  b.write('factory-relay sim', 43, 'latin1'); // compressorname (Pascal string in 32 bytes)
  b[42] = 'factory-relay sim'.length;
  b.writeUInt16BE(0x0018, 74); // depth
  b.writeInt16BE(-1, 76);
  return box(codec, b);
}

function audioSampleEntry(): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt16BE(1, 6); // data_reference_index
  b.writeUInt16BE(2, 16); // channelcount
  b.writeUInt16BE(16, 18); // samplesize
  b.writeUInt32BE(48_000 * 0x10000, 24); // samplerate 16.16
  return box('mp4a', b);
}

function sampleTables(entry: Buffer, sampleSize: number, sampleOffset: number): Buffer {
  return box(
    'stbl',
    fullBox('stsd', 0, 0, u32(1), entry),
    fullBox('stts', 0, 0, u32(1, 1, 1000)),
    fullBox('stsc', 0, 0, u32(1, 1, 1, 1)),
    fullBox('stsz', 0, 0, u32(0, 1, sampleSize)),
    fullBox('stco', 0, 0, u32(1, sampleOffset)),
  );
}

function handler(type: 'vide' | 'soun', name: string): Buffer {
  return fullBox(
    'hdlr',
    0,
    0,
    u32(0),
    Buffer.from(type, 'latin1'),
    Buffer.alloc(12),
    Buffer.from(`${name}\0`),
  );
}

/** A sound trak (track 2) whose one sample shares the video's chunk: box walkers need it, players do not. */
function audioTrak(sampleSize: number, sampleOffset: number): Buffer {
  const tkhd = fullBox('tkhd', 0, 3, u32(0, 0, 2, 0, 1000, 0, 0), Buffer.alloc(8), UNITY_MATRIX, u32(0, 0));
  const mdhd = fullBox('mdhd', 0, 0, u32(0, 0, 48_000, 48_000), Buffer.from([0x55, 0xc4, 0, 0]));
  const smhd = fullBox('smhd', 0, 0, Buffer.alloc(4));
  const dinf = box('dinf', fullBox('dref', 0, 0, u32(1), fullBox('url ', 0, 1)));
  const minf = box('minf', smhd, dinf, sampleTables(audioSampleEntry(), sampleSize, sampleOffset));
  return box('trak', tkhd, box('mdia', mdhd, handler('soun', 'SoundHandler'), minf));
}

function moovBox(
  codec: string,
  width: number,
  height: number,
  sampleSize: number,
  sampleOffset: number,
  audioFirst = false,
): Buffer {
  const mvhd = fullBox(
    'mvhd',
    0,
    0,
    u32(0, 0, 1000, 1000, 0x00010000),
    Buffer.from([0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), // volume + reserved
    UNITY_MATRIX,
    Buffer.alloc(24),
    u32(2),
  );
  const tkhd = fullBox(
    'tkhd',
    0,
    3,
    u32(0, 0, 1, 0, 1000, 0, 0),
    Buffer.alloc(8), // layer, alternate_group, volume, reserved
    UNITY_MATRIX,
    u32(width * 0x10000, height * 0x10000),
  );
  const mdhd = fullBox('mdhd', 0, 0, u32(0, 0, 1000, 1000), Buffer.from([0x55, 0xc4, 0, 0]));
  const vmhd = fullBox('vmhd', 0, 1, Buffer.alloc(8));
  const dinf = box('dinf', fullBox('dref', 0, 0, u32(1), fullBox('url ', 0, 1)));
  const stbl = sampleTables(visualSampleEntry(codec, width, height), sampleSize, sampleOffset);
  const minf = box('minf', vmhd, dinf, stbl);
  const mdia = box('mdia', mdhd, handler('vide', 'VideoHandler'), minf);
  const video = box('trak', tkhd, mdia);
  return audioFirst
    ? box('moov', mvhd, audioTrak(sampleSize, sampleOffset), video)
    : box('moov', mvhd, video);
}

function extraBox(type: string, size: number): Buffer {
  const min = type === 'uuid' ? 24 : 8;
  if (!Number.isInteger(size) || size < min)
    throw new RangeError(`makeMp4: a ${type} box is at least ${min} bytes`);
  const body = Buffer.alloc(size - 8);
  if (type === 'uuid') Buffer.from('fa57f0a1e5eb4b0c9a3d7e1a5ec0ffee', 'hex').copy(body); // usertype
  return box(type, body);
}

function mdatHeader(payloadSize: number, options: Mp4Options): Buffer {
  if (options.mdatLargeSize) {
    const h = Buffer.alloc(16);
    h.writeUInt32BE(1, 0);
    h.write('mdat', 4, 'latin1');
    h.writeBigUInt64BE(BigInt(payloadSize + 16), 8);
    return h;
  }
  if (payloadSize + 8 > 0xffffffff) throw new RangeError('makeMp4: padding beyond 4 GB needs mdatLargeSize');
  const h = Buffer.alloc(8);
  h.writeUInt32BE(options.mdatToEnd ? 0 : payloadSize + 8, 0);
  h.write('mdat', 4, 'latin1');
  return h;
}

/**
 * A minimal ISO-BMFF (MP4) file: ftyp + moov (mvhd, trak/tkhd, mdia/mdhd/hdlr 'vide', minf/vmhd/dinf/stbl with
 * one `stsd` sample entry of the given 4CC) + mdat, with correct box sizes and chunk offset. The sample is
 * filler, not a real bitstream: box walkers and codec sniffers are happy, players are not.
 */
export function makeMp4(options: Mp4Options): Buffer {
  const width = options.width ?? 640;
  const height = options.height ?? 480;
  if (width > 65_535 || height > 65_535)
    throw new RangeError('makeMp4: sample entry sides are at most 65535');
  const brands = ['isom', 'iso2', 'mp41'];
  if (options.codec === 'avc1' || options.codec === 'avc3') brands.push('avc1');
  const ftyp = box('ftyp', Buffer.from('isom', 'latin1'), u32(0x200), Buffer.from(brands.join(''), 'latin1'));
  if (options.mdatToEnd && (options.moovAtEnd || options.mdatLargeSize)) {
    throw new RangeError('makeMp4: mdatToEnd needs mdat to be the last box, with a 32-bit size field');
  }
  const audio = options.audioTrackFirst === true;
  const extras = Buffer.concat((options.extraBoxes ?? []).map((b) => extraBox(b.type, b.size)));
  const moovSize = moovBox(options.codec, width, height, 0, 0, audio).length;
  const mdatHeadSize = options.mdatLargeSize ? 16 : 8;
  const fixed = ftyp.length + extras.length + moovSize + mdatHeadSize;
  const payloadSize = Math.max(64, (options.padToBytes ?? 0) - fixed);
  const mdatHead = mdatHeader(payloadSize, options);
  const payload =
    payloadSize <= 65_536 ? fillerBytes(payloadSize) : Buffer.alloc(payloadSize, 'mdat filler ');
  const before = ftyp.length + extras.length;
  if (options.moovAtEnd) {
    const moov = moovBox(options.codec, width, height, payloadSize, before + mdatHeadSize, audio);
    return Buffer.concat([ftyp, extras, mdatHead, payload, moov]);
  }
  const moov = moovBox(options.codec, width, height, payloadSize, before + moovSize + mdatHeadSize, audio);
  return Buffer.concat([ftyp, extras, moov, mdatHead, payload]);
}

export interface Mp4Info {
  /** `ftyp` major brand. */
  majorBrand: string;
  /** 4CC of the first video track's first sample entry, when `moov` was readable. */
  codec?: string;
  /** Width and height from that visual sample entry. */
  width?: number;
  height?: number;
  /** Top-level box types in file order, as far as they could be walked. */
  topLevel: string[];
  /** True when `moov` lay within the readable bytes and was parsed. */
  moovParsed: boolean;
  /** True when every top-level box header was reachable (so "no moov" really means none). */
  complete: boolean;
}

/** The readable parts of a file: its first bytes, optionally its last bytes and its total size. */
export interface ByteWindows {
  tail?: Buffer;
  size?: number;
}

class Windows {
  readonly size: number;
  private readonly tailStart: number;

  constructor(
    private readonly head: Buffer,
    private readonly tail: Buffer,
    size: number | undefined,
  ) {
    this.size = size ?? head.length;
    this.tailStart = this.size - tail.length;
  }

  slice(start: number, end: number): Buffer | undefined {
    if (start < 0 || end > this.size || start > end) return undefined;
    if (end <= this.head.length) return this.head.subarray(start, end);
    if (this.tail.length > 0 && start >= this.tailStart) {
      return this.tail.subarray(start - this.tailStart, end - this.tailStart);
    }
    return undefined;
  }
}

interface BoxRef {
  type: string;
  start: number;
  headerSize: number;
  end: number;
}

function readBoxHeader(w: Windows, pos: number, limit: number): BoxRef | undefined {
  const h = w.slice(pos, pos + 8);
  if (!h) return undefined;
  let size = h.readUInt32BE(0);
  const type = h.toString('latin1', 4, 8);
  let headerSize = 8;
  if (size === 1) {
    const large = w.slice(pos + 8, pos + 16);
    if (!large) return undefined;
    size = Number(large.readBigUInt64BE(0));
    headerSize = 16;
  } else if (size === 0) {
    size = limit - pos;
  }
  if (size < headerSize || pos + size > limit) return undefined;
  return { type, start: pos, headerSize, end: pos + size };
}

function children(buf: Buffer, from: number, to: number): Array<{ type: string; body: Buffer }> {
  const out: Array<{ type: string; body: Buffer }> = [];
  let pos = from;
  while (pos + 8 <= to) {
    const size = buf.readUInt32BE(pos);
    const type = buf.toString('latin1', pos + 4, pos + 8);
    if (size < 8 || pos + size > to) break;
    out.push({ type, body: buf.subarray(pos + 8, pos + size) });
    pos += size;
  }
  return out;
}

function child(buf: Buffer, type: string, skip = 0): Buffer | undefined {
  return children(buf, skip, buf.length).find((c) => c.type === type)?.body;
}

/** The first sample entry of the first `vide` track (or of the first track when none says `vide`). */
function parseMoov(moov: Buffer): { codec?: string; width?: number; height?: number } {
  const traks = children(moov, 0, moov.length).filter((c) => c.type === 'trak');
  const entries = traks.map((t) => {
    const mdia = child(t.body, 'mdia');
    const hdlr = mdia ? child(mdia, 'hdlr') : undefined;
    const handler = hdlr && hdlr.length >= 12 ? hdlr.toString('latin1', 8, 12) : '';
    const stbl = mdia ? child(child(mdia, 'minf') ?? Buffer.alloc(0), 'stbl') : undefined;
    const stsd = stbl ? child(stbl, 'stsd') : undefined;
    // stsd: version/flags(4) entry_count(4) then sample entries (boxes)
    const first = stsd && stsd.length >= 16 ? children(stsd, 8, stsd.length)[0] : undefined;
    return { handler, first };
  });
  const chosen = entries.find((e) => e.handler === 'vide' && e.first) ?? entries.find((e) => e.first);
  if (!chosen?.first) return {};
  const { type, body } = chosen.first;
  if (chosen.handler === 'vide' && body.length >= 28) {
    return { codec: type, width: body.readUInt16BE(24), height: body.readUInt16BE(26) };
  }
  return { codec: type };
}

/** Walks the top-level boxes of an MP4 using the head (and, for moov-at-end files, the tail) of the file. */
export function readMp4Info(head: Buffer, windows: ByteWindows = {}): Mp4Info | undefined {
  const w = new Windows(head, windows.tail ?? Buffer.alloc(0), windows.size);
  const first = readBoxHeader(w, 0, w.size);
  if (first?.type !== 'ftyp') return undefined;
  const ftyp = w.slice(first.start + first.headerSize, first.start + first.headerSize + 4);
  const info: Mp4Info = {
    majorBrand: ftyp?.toString('latin1') ?? '',
    topLevel: [],
    moovParsed: false,
    complete: false,
  };
  let pos = 0;
  while (pos < w.size) {
    const ref = readBoxHeader(w, pos, w.size);
    if (!ref) return info;
    info.topLevel.push(ref.type);
    if (ref.type === 'moov' && !info.moovParsed) {
      const body = w.slice(ref.start + ref.headerSize, ref.end);
      if (body) {
        Object.assign(info, parseMoov(body));
        info.moovParsed = true;
      }
    }
    pos = ref.end;
  }
  info.complete = true;
  return info;
}

/** Bytes 4..8 are `ftyp` (ISO base media file). */
export function isIsoBmff(buf: Buffer): boolean {
  return buf.length >= 8 && buf.toString('latin1', 4, 8) === 'ftyp';
}
