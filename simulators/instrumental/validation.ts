import { isEbml, isIsoBmff, isJpeg, readJpegInfo, readMp4Info } from '../media/index.ts';
import { EXTENSIONS_IGNORE_CASE } from './assumptions.ts';

export type FileStatus = 'PENDING_VALIDATION' | 'FAILED_VALIDATION' | 'UPLOADED';

export interface ValidationOutcome {
  status: 'UPLOADED' | 'FAILED_VALIDATION';
  /** Why: the failed rule, or what was checked. */
  reason: string;
  /** What the header readers found. */
  detected: { kind?: 'jpeg' | 'mp4' | 'webm'; width?: number; height?: number; codec?: string };
}

export interface ContentSample {
  filename: string;
  size: number;
  head: Buffer;
  tail: Buffer;
}

export interface ContentRules {
  maxPixels: number;
  rejectedVideoCodecs: readonly string[];
}

export const ALLOWED_EXTENSIONS = ['.jpg', '.jpeg', '.mp4', '.webm'] as const;

/** The allowed extension the name ends with (lower case), or undefined. */
export function extensionOf(filename: string): (typeof ALLOWED_EXTENSIONS)[number] | undefined {
  const name = EXTENSIONS_IGNORE_CASE ? filename.toLowerCase() : filename;
  return ALLOWED_EXTENSIONS.find((ext) => name.endsWith(ext));
}

function mp(width: number, height: number): string {
  return `${width}x${height} is ${((width * height) / 1e6).toFixed(1)} MP`;
}

/**
 * What the vendor's asynchronous validation decides (vendor doc "Validation"): the content must match the
 * extension (JPEG magic for .jpg/.jpeg, ISO-BMFF `ftyp` for .mp4, EBML for .webm), be at most 32 MP, and an
 * MP4 must not use a refused codec (mp4v).
 */
export function validateContent(file: ContentSample, rules: ContentRules): ValidationOutcome {
  const ext = extensionOf(file.filename);
  const limitMp = `${(rules.maxPixels / 1e6).toFixed(0)} MP`;
  if (ext === '.jpg' || ext === '.jpeg') {
    if (!isJpeg(file.head)) {
      return {
        status: 'FAILED_VALIDATION',
        reason: `file type check: ${ext} content is not a JPEG (no FF D8 FF magic)`,
        detected: {},
      };
    }
    const info = readJpegInfo(file.head);
    if (!info) {
      return {
        status: 'UPLOADED',
        reason: `JPEG; no frame header in the first ${file.head.length} bytes, size not checked`,
        detected: { kind: 'jpeg' },
      };
    }
    const detected = { kind: 'jpeg' as const, width: info.width, height: info.height };
    if (info.width * info.height > rules.maxPixels) {
      return {
        status: 'FAILED_VALIDATION',
        reason: `image too large: ${mp(info.width, info.height)}, over ${limitMp}`,
        detected,
      };
    }
    return { status: 'UPLOADED', reason: `JPEG ${mp(info.width, info.height)}`, detected };
  }
  if (ext === '.mp4') {
    const info = isIsoBmff(file.head)
      ? readMp4Info(file.head, { tail: file.tail, size: file.size })
      : undefined;
    if (!info) {
      return {
        status: 'FAILED_VALIDATION',
        reason: 'file type check: .mp4 content is not an ISO-BMFF file (no ftyp box)',
        detected: {},
      };
    }
    const detected = { kind: 'mp4' as const, codec: info.codec, width: info.width, height: info.height };
    if (info.moovParsed) {
      if (!info.codec)
        return { status: 'FAILED_VALIDATION', reason: 'MP4 has no video sample entry', detected };
      if (rules.rejectedVideoCodecs.includes(info.codec)) {
        return {
          status: 'FAILED_VALIDATION',
          reason: `video codec ${info.codec} cannot play in web browsers (use H.264, AV1, VP9 or VP8)`,
          detected,
        };
      }
      if (
        info.width !== undefined &&
        info.height !== undefined &&
        info.width * info.height > rules.maxPixels
      ) {
        return {
          status: 'FAILED_VALIDATION',
          reason: `video too large: ${mp(info.width, info.height)}, over ${limitMp}`,
          detected,
        };
      }
      return { status: 'UPLOADED', reason: `MP4 ${info.codec}`, detected };
    }
    if (info.complete) return { status: 'FAILED_VALIDATION', reason: 'MP4 has no moov box', detected };
    return {
      status: 'UPLOADED',
      reason: 'MP4; moov not within the inspected head/tail, codec not checked',
      detected,
    };
  }
  if (ext === '.webm') {
    if (!isEbml(file.head)) {
      return {
        status: 'FAILED_VALIDATION',
        reason: 'file type check: .webm content is not EBML (no 1A 45 DF A3 magic)',
        detected: {},
      };
    }
    return { status: 'UPLOADED', reason: 'WebM', detected: { kind: 'webm' } };
  }
  // Unreachable through the API (the extension is checked synchronously), kept for direct callers.
  return { status: 'FAILED_VALIDATION', reason: 'file type check: unsupported extension', detected: {} };
}
