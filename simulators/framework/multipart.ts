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
  /** The first bytes of the file (up to `headBytes`), for magic-byte and header checks. */
  head: Buffer;
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
}

export interface MultipartLimits {
  maxFileBytes?: number;
  maxFieldBytes?: number;
  maxParts?: number;
  headBytes?: number;
  keepBytes?: number;
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
  const keepBytes = limits.keepBytes ?? 0;
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({
        headers: req.headers,
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
    const result: MultipartResult = { files: [], fields: [], tooManyParts: false };
    const pending: Promise<void>[] = [];
    bb.on('file', (field, stream, info) => {
      const hash = createHash('sha256');
      const head: Buffer[] = [];
      const kept: Buffer[] = [];
      let headLen = 0;
      let size = 0;
      pending.push(
        new Promise<void>((done) => {
          stream.on('data', (chunk: Buffer) => {
            hash.update(chunk);
            size += chunk.length;
            if (headLen < headBytes) {
              head.push(chunk.subarray(0, headBytes - headLen));
              headLen += Math.min(chunk.length, headBytes - headLen);
            }
            if (size <= keepBytes) kept.push(chunk);
          });
          stream.on('close', () => {
            const file: MultipartFile = {
              field,
              filename: info.filename ?? '',
              contentType: info.mimeType,
              size,
              sha256: hash.digest('hex'),
              head: Buffer.concat(head),
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
      result.fields.push({ name, value, contentType: info.mimeType, truncated: info.valueTruncated });
    });
    bb.on('partsLimit', () => {
      result.tooManyParts = true;
    });
    bb.on('error', (err) => reject(new MultipartError(String(err))));
    bb.on('close', () => {
      Promise.all(pending).then(() => resolve(result), reject);
    });
    req.raw.on('aborted', () => reject(new MultipartError('request aborted')));
    req.raw.pipe(bb);
  });
}
