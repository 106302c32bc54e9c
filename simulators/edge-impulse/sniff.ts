import { EMPTY_FILE_IS_FAILURE, IMAGES_SNIFFED_BY_CONTENT } from './assumptions.ts';

/**
 * Sample type detection by extension and content, never by the part's Content-Type (contract §1.4).
 * Allowed types are the CLI's list (§1.1). Rules in `assumptions.ts` (EMPTY_FILE_IS_FAILURE, IMAGES_SNIFFED_BY_CONTENT).
 */

export type SampleKind = 'wav' | 'cbor' | 'json' | 'jpg' | 'png' | 'csv' | 'txt' | 'mp4' | 'avi' | 'parquet';

/** §1.1 CLI `EXTENSION_MAPPING`: allowed extensions and the kind they name. */
export const EXTENSION_KINDS: Readonly<Record<string, SampleKind>> = {
  '.wav': 'wav',
  '.cbor': 'cbor',
  '.json': 'json',
  '.jpg': 'jpg',
  '.jpeg': 'jpg',
  '.png': 'png',
  '.csv': 'csv',
  '.txt': 'txt',
  '.mp4': 'mp4',
  '.avi': 'avi',
  '.parquet': 'parquet',
};

export const KIND_CONTENT_TYPES: Readonly<Record<SampleKind, string>> = {
  wav: 'audio/wav',
  cbor: 'application/cbor',
  json: 'application/json',
  jpg: 'image/jpeg',
  png: 'image/png',
  csv: 'text/csv',
  txt: 'text/plain',
  mp4: 'video/mp4',
  avi: 'video/avi',
  parquet: 'application/vnd.apache.parquet',
};

const KIND_NAMES: Readonly<Record<SampleKind, string>> = {
  wav: 'WAV',
  cbor: 'CBOR',
  json: 'JSON',
  jpg: 'JPEG',
  png: 'PNG',
  csv: 'CSV',
  txt: 'TXT',
  mp4: 'MP4',
  avi: 'AVI',
  parquet: 'Parquet',
};

/** Kinds whose bytes must start with a known signature when the extension names them. */
const BINARY_KINDS = new Set<SampleKind>(['wav', 'jpg', 'png', 'mp4', 'avi', 'parquet']);

/** Image kinds: under an image extension the content decides which (IMAGES_SNIFFED_BY_CONTENT). */
const IMAGE_KINDS = new Set<SampleKind>(['jpg', 'png']);

export function extensionOf(fileName: string): string {
  const base = fileName.slice(fileName.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot).toLowerCase() : '';
}

function ascii(head: Uint8Array, from: number, to: number): string {
  return Buffer.from(head.subarray(from, to)).toString('latin1');
}

/** The kind the first bytes reveal, when they reveal one (text types cannot be told apart and are not sniffed). */
export function kindFromContent(head: Uint8Array): SampleKind | undefined {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpg';
  if (ascii(head, 0, 8) === '\x89PNG\r\n\x1a\n') return 'png';
  if (ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 12) === 'WAVE') return 'wav';
  if (ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 12) === 'AVI ') return 'avi';
  if (ascii(head, 4, 8) === 'ftyp') return 'mp4';
  if (ascii(head, 0, 4) === 'PAR1') return 'parquet';
  let i = 0;
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) i = 3;
  while (i < head.length && (head[i] === 0x20 || head[i] === 0x0a || head[i] === 0x0d || head[i] === 0x09))
    i++;
  if (head[i] === 0x7b) return 'json';
  const first = head[0];
  if (first !== undefined && (first >> 5 === 5 || (first === 0xd9 && head[1] === 0xd9 && head[2] === 0xf7))) {
    return 'cbor';
  }
  return undefined;
}

export type SniffResult =
  | { ok: true; kind: SampleKind; by: 'extension' | 'content' }
  | { ok: false; error: string };

/** Decides a sample's kind: allowed extension first (verified against magic bytes for binary kinds), else content. */
export function sniffSample(fileName: string, head: Uint8Array, size: number): SniffResult {
  if (size === 0 && EMPTY_FILE_IS_FAILURE) return { ok: false, error: `File "${fileName}" is empty` };
  const ext = extensionOf(fileName);
  const byExt = EXTENSION_KINDS[ext];
  const byContent = kindFromContent(head);
  if (byExt) {
    if (IMAGES_SNIFFED_BY_CONTENT && IMAGE_KINDS.has(byExt)) {
      if (byContent !== undefined && IMAGE_KINDS.has(byContent))
        return { ok: true, kind: byContent, by: byContent === byExt ? 'extension' : 'content' };
      return { ok: false, error: `File "${fileName}" is not a valid image (JPEG or PNG)` };
    }
    if (BINARY_KINDS.has(byExt) && byContent !== byExt) {
      return { ok: false, error: `File "${fileName}" is not a valid ${KIND_NAMES[byExt]} file` };
    }
    return { ok: true, kind: byExt, by: 'extension' };
  }
  if (byContent) return { ok: true, kind: byContent, by: 'content' };
  return {
    ok: false,
    error: `Unsupported file type${ext ? ` "${ext}"` : ''} for "${fileName}"; allowed: ${Object.keys(EXTENSION_KINDS).join(' ')}`,
  };
}
