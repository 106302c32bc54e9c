/**
 * Reads what the relay needs from the first bytes of a media file: its kind (magic bytes), a JPEG's
 * dimensions (from its SOF marker) and an MP4's video codec (the sample entry in `stsd`). Never decodes pixels.
 */
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

/** Width and height from a JPEG's first SOFn segment, or undefined if it is not within `head`. */
export function jpegDimensions(head: Buffer): { width: number; height: number } | undefined {
  if (sniff(head) !== 'jpeg') return undefined;
  let i = 2;
  while (i + 4 <= head.length) {
    if (head[i] !== 0xff) return undefined;
    let marker = head[i + 1] as number;
    while (marker === 0xff && i + 2 < head.length) {
      i++;
      marker = head[i + 1] as number;
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      i += 2;
      continue;
    }
    if (i + 4 > head.length) return undefined;
    const len = head.readUInt16BE(i + 2);
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) {
      if (i + 9 > head.length) return undefined;
      return { height: head.readUInt16BE(i + 5), width: head.readUInt16BE(i + 7) };
    }
    if (marker === 0xda || marker === 0xd9) return undefined;
    i += 2 + len;
  }
  return undefined;
}

const CONTAINERS = new Set(['moov', 'trak', 'mdia', 'minf', 'stbl']);

/**
 * The 4CC of the first video sample entry (`avc1`, `hvc1`, `mp4v`, `vp09`, `av01`…) of an ISO-BMFF file, if
 * its `moov` box lies within `head` (files written "fast start"); undefined otherwise.
 */
export function mp4VideoCodec(head: Buffer): string | undefined {
  return walk(head, 0, head.length, 0);
}

function walk(buf: Buffer, start: number, end: number, depth: number): string | undefined {
  let i = start;
  while (i + 8 <= end && depth < 8) {
    let size = buf.readUInt32BE(i);
    const type = buf.toString('latin1', i + 4, i + 8);
    let headerLen = 8;
    if (size === 1) {
      if (i + 16 > end) return undefined;
      size = Number(buf.readBigUInt64BE(i + 8));
      headerLen = 16;
    } else if (size === 0) {
      size = end - i;
    }
    if (size < headerLen) return undefined;
    const boxEnd = Math.min(end, i + size);
    if (CONTAINERS.has(type)) {
      const found = walk(buf, i + headerLen, boxEnd, depth + 1);
      if (found) return found;
    } else if (type === 'stsd') {
      // full box: version+flags (4) + entry count (4), then the first sample entry: size (4) + format (4)
      const entry = i + headerLen + 8;
      if (entry + 8 <= boxEnd) return buf.toString('latin1', entry + 4, entry + 8);
      return undefined;
    }
    i += size;
  }
  return undefined;
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
