import { createHash } from 'node:crypto';
import busboy from 'busboy';
import type { SimRequest } from './server.ts';

/** One file part as a simulator sees it: never more than `keepBytes` of it is held in memory. */
export interface MultipartFile {
  field: string;
  filename: string;
  contentType: string;
  size: number;
  sha256: string;
  /** MD5 hex of the file (what S3 puts in an ETag). */
  md5: string;
  /** The first bytes of the file (up to `headBytes`), for magic-byte and header checks. */
  head: Buffer;
  /** The last bytes of the file (up to `tailBytes`), e.g. an MP4 `moov` box written after `mdat`. Empty unless `tailBytes` is set. */
  tail: Buffer;
  /** The whole file when it is at most `keepBytes` long; otherwise undefined. */
  bytes?: Buffer;
  /** True when the part was cut at `maxFileBytes`. */
  truncated: boolean;
}

export interface MultipartField {
  name: string;
  value: string;
  contentType: string;
  /** True when the value was cut at `maxFieldBytes`. */
  truncated: boolean;
}

export interface MultipartResult {
  files: MultipartFile[];
  fields: MultipartField[];
  /** Set when more parts arrived than `maxParts` allows. */
  tooManyParts: boolean;
  /** Every part in arrival order (S3 POST forms, for one, require the file to be the last part). */
  order: Array<{ kind: 'field' | 'file'; name: string }>;
}

export interface MultipartLimits {
  maxFileBytes?: number;
  maxFieldBytes?: number;
  maxParts?: number;
  headBytes?: number;
  /** How many bytes at the end of each file part to keep in `tail` (default 0). */
  tailBytes?: number;
  keepBytes?: number;
  /** Per-field override of `keepBytes`, e.g. `{ data: 4_000_000 }` to keep a JSON part sent with a filename. */
  keepBytesFor?: Record<string, number>;
}

export class MultipartError extends Error {}

/** True when the request carries a multipart/form-data body. */
export function isMultipart(req: SimRequest): boolean {
  return /^multipart\/form-data/i.test(req.headers['content-type'] ?? '');
}

/**
 * Streams a multipart/form-data body: hashes and measures every file part without buffering it (unless it is
 * small enough to keep), so a simulator can take a 100 MB upload without holding it.
 * Parts with a filename are files; parts without one are fields (whatever their Content-Type).
 */
export function parseMultipart(req: SimRequest, limits: MultipartLimits = {}): Promise<MultipartResult> {
  const headBytes = limits.headBytes ?? 64 * 1024;
  const tailBytes = limits.tailBytes ?? 0;
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({
        headers: req.headers,
        // RFC 7578: file names are UTF-8 in practice; busboy's default (latin1) garbles them.
        defParamCharset: 'utf8',
        limits: {
          fileSize: limits.maxFileBytes ?? Number.MAX_SAFE_INTEGER,
          fieldSize: limits.maxFieldBytes ?? 64 * 1024 * 1024,
          parts: limits.maxParts ?? Number.POSITIVE_INFINITY,
        },
      });
    } catch (err) {
      reject(new MultipartError(String(err)));
      return;
    }
    const result: MultipartResult = { files: [], fields: [], tooManyParts: false, order: [] };
    const pending: Promise<void>[] = [];
    bb.on('file', (field, stream, info) => {
      result.order.push({ kind: 'file', name: field });
      const keepBytes = limits.keepBytesFor?.[field] ?? limits.keepBytes ?? 0;
      const hash = createHash('sha256');
      const md5 = createHash('md5');
      const head: Buffer[] = [];
      const kept: Buffer[] = [];
      const tail: Buffer[] = [];
      let headLen = 0;
      let tailLen = 0;
      let size = 0;
      pending.push(
        new Promise<void>((done) => {
          stream.on('data', (chunk: Buffer) => {
            hash.update(chunk);
            md5.update(chunk);
            size += chunk.length;
            if (headLen < headBytes) {
              head.push(chunk.subarray(0, headBytes - headLen));
              headLen += Math.min(chunk.length, headBytes - headLen);
            }
            if (size <= keepBytes) kept.push(chunk);
            if (tailBytes > 0) {
              tail.push(chunk);
              tailLen += chunk.length;
              while (tail.length > 1 && tailLen - (tail[0] as Buffer).length >= tailBytes) {
                tailLen -= (tail.shift() as Buffer).length;
              }
            }
          });
          stream.on('close', () => {
            const file: MultipartFile = {
              field,
              filename: info.filename ?? '',
              contentType: info.mimeType,
              size,
              sha256: hash.digest('hex'),
              md5: md5.digest('hex'),
              head: Buffer.concat(head),
              tail:
                tailLen > tailBytes ? Buffer.concat(tail).subarray(tailLen - tailBytes) : Buffer.concat(tail),
              truncated: stream.truncated === true,
            };
            if (size <= keepBytes) file.bytes = Buffer.concat(kept);
            result.files.push(file);
            done();
          });
        }),
      );
    });
    bb.on('field', (name, value, info) => {
      result.order.push({ kind: 'field', name });
      result.fields.push({ name, value, contentType: info.mimeType, truncated: info.valueTruncated });
    });
    bb.on('partsLimit', () => {
      result.tooManyParts = true;
    });
    bb.on('error', (err) => reject(new MultipartError(String(err))));
    bb.on('close', () => {
      Promise.all(pending).then(() => resolve(result), reject);
    });
    // A peer that went away before or while we read: `close` without `complete` (the `aborted` event may have
    // fired before these listeners existed, e.g. during an injected delay).
    if (req.raw.destroyed && !req.raw.complete) {
      reject(new MultipartError('request aborted'));
      return;
    }
    req.raw.on('aborted', () => reject(new MultipartError('request aborted')));
    req.raw.on('close', () => {
      if (!req.raw.complete) reject(new MultipartError('request aborted'));
    });
    req.raw.pipe(bb);
  });
}
