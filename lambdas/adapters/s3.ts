/**
 * S3 adapter: reads factory objects (never writes or deletes them) and writes vendor results to the results
 * bucket.
 */

import type { Readable } from 'node:stream';
import { ENV, optionalEnv } from '#commons/env.ts';
import { boundGarbage } from '#commons/stream-gc.ts';
import { sameVersion } from '#domain/delivery.ts';
import type { ObjectVersion } from '#domain/ops/types.ts';
import type { ObjectHeadInfo } from '#domain/route.ts';
import type { ObjectRef, ObjectSource, ResultSink, ResultWrite } from '#vendors/types.ts';
import { S3Client } from './aws/s3-client.ts';
import { AwsError, readBytes, readText, type TransportOptions } from './aws/transport.ts';

export { S3Client };

export function createS3Client(env: NodeJS.ProcessEnv = process.env, opts: TransportOptions = {}): S3Client {
  return new S3Client({ ...opts, env, forcePathStyle: optionalEnv(ENV.s3ForcePathStyle, env) === 'true' });
}

/** What the router reads of an object (its port type, defined by the domain). */
export type ObjectHead = ObjectHeadInfo;

const isNotFound = (err: unknown): boolean => err instanceof AwsError && err.status === 404;

/**
 * Reads of exactly the object a delivery stands for: its version in a versioned bucket; in an unversioned one,
 * the object under the key only while its ETag is the delivery's (S3 answers 412 PreconditionFailed once a newer
 * upload replaced it, instead of handing the newer bytes to the older delivery).
 */
function exactly(ref: Pick<ObjectRef, 'versionId' | 'etag'>): { versionId?: string; ifMatch?: string } {
  if (ref.versionId) return { versionId: ref.versionId };
  return ref.etag ? { ifMatch: `"${ref.etag.replace(/"/g, '')}"` } : {};
}

export class S3Objects implements ObjectSource {
  constructor(private readonly s3: S3Client) {}

  /** HeadObject of one version; undefined when it no longer exists. */
  async describe(ref: Pick<ObjectRef, 'bucket' | 'key' | 'versionId'>): Promise<ObjectHead | undefined> {
    try {
      const out = await this.s3.headObject(ref.bucket, ref.key, ref.versionId);
      const head: ObjectHead = {
        size: out.contentLength,
        etag: out.etag.replace(/"/g, ''),
        metadata: out.metadata,
      };
      if (out.contentType) head.contentType = out.contentType;
      if (out.lastModified) head.lastModified = out.lastModified.toISOString();
      if (out.versionId) head.versionId = out.versionId;
      return head;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** A small object (a sidecar) read whole, or undefined when it does not exist. Refuses more than maxBytes. */
  async readSmall(
    bucket: string,
    key: string,
    maxBytes: number,
  ): Promise<{ kind: 'found'; text: string } | { kind: 'missing' } | { kind: 'too-large'; size: number }> {
    try {
      const out = await this.s3.getObject(bucket, key);
      const size = out.contentLength;
      if (size > maxBytes) {
        out.body.destroy();
        return { kind: 'too-large', size };
      }
      return { kind: 'found', text: await readText(out.body) };
    } catch (err) {
      if (isNotFound(err)) return { kind: 'missing' };
      throw err;
    }
  }

  /**
   * Bytes [start, endExclusive) of the object version, by one ranged GET; fewer only at the end of the object,
   * none (and no request) when the range is empty. What a RangeReader over a factory object calls.
   */
  async range(ref: ObjectRef, start: number, endExclusive: number): Promise<Buffer> {
    const end = Math.min(endExclusive, ref.size);
    if (start >= end) return Buffer.alloc(0);
    const out = await this.s3.getObject(ref.bucket, ref.key, {
      ...exactly(ref),
      range: `bytes=${start}-${end - 1}`,
    });
    return (await readBytes(out.body)).subarray(0, end - start);
  }

  /** Keys under a prefix, at most `max` (one ListObjectsV2 page). */
  async listKeys(bucket: string, prefix: string, max: number): Promise<string[]> {
    const out = await this.s3.listObjectsV2(bucket, prefix, max);
    return out.contents.map((o) => o.key);
  }

  /**
   * The current version of each object under a prefix, with its version id (ListObjectsV2, then HeadObject per
   * object: the local S3 has no ListObjectVersions, and ops reads are few). `next` is S3's continuation token.
   */
  async listLatest(
    bucket: string,
    prefix: string,
    max: number,
    next?: string,
  ): Promise<{ versions: ObjectVersion[]; next?: string }> {
    const out = await this.s3.listObjectsV2(bucket, prefix, max, next);
    const versions: ObjectVersion[] = [];
    for (const o of out.contents) {
      const head = await this.describe({ bucket, key: o.key });
      if (!head) continue;
      versions.push({
        key: o.key,
        ...(head.versionId && head.versionId !== 'null' ? { versionId: head.versionId } : {}),
        etag: head.etag,
        size: head.size,
        lastModified: (o.lastModified ?? new Date(0)).toISOString(),
        isLatest: true,
      });
    }
    return { versions, ...(out.nextContinuationToken ? { next: out.nextContinuationToken } : {}) };
  }

  async stream(ref: ObjectRef): Promise<Readable> {
    const out = await this.s3.getObject(ref.bucket, ref.key, exactly(ref));
    // The bytes of a whole file: their socket chunks are the garbage commons/stream-gc.ts bounds.
    return boundGarbage(out.body);
  }
}

export class S3Results implements ResultSink {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly prefix = 'results/',
  ) {}

  async put(input: {
    key: string;
    body: Readable | Buffer;
    contentType: string;
    contentLength?: number;
    metadata?: Record<string, string>;
    source: ObjectRef;
  }): Promise<ResultWrite> {
    const key = `${this.prefix}${input.key}`;
    const length = input.contentLength ?? (Buffer.isBuffer(input.body) ? input.body.length : undefined);
    // S3 takes a single PUT only with its length (the caller knows it: a vendor's Content-Length or a buffer).
    if (length === undefined) throw new Error(`writing ${key}: a streamed result needs its length`);
    // One source key gives one result key: an older version's result finishing late must not replace the
    // newer version's. Checked right before the write, so only a whole newer delivery fitting between this
    // read and the PUT (route, send, vendor task, result) could slip through.
    const current = await currentVersion(this.s3, input.source);
    if (current && !sameVersion(input.source, current)) {
      if (!Buffer.isBuffer(input.body)) input.body.destroy();
      return {
        written: false,
        superseded: { etag: current.etag, ...(current.versionId ? { versionId: current.versionId } : {}) },
      };
    }
    await this.s3.putObject({
      bucket: this.bucket,
      key,
      // A result streamed from the vendor: its socket chunks are garbage too (commons/stream-gc.ts).
      body: Buffer.isBuffer(input.body) ? input.body : boundGarbage(input.body),
      contentType: input.contentType,
      contentLength: length,
      ...(input.metadata ? { metadata: input.metadata } : {}),
    });
    return { written: true, bucket: this.bucket, key };
  }
}

/** The current version of a factory object's key (HeadObject without a version), or undefined once it is gone. */
async function currentVersion(
  s3: S3Client,
  ref: Pick<ObjectRef, 'bucket' | 'key'>,
): Promise<{ versionId?: string; etag: string } | undefined> {
  try {
    const out = await s3.headObject(ref.bucket, ref.key);
    const etag = out.etag.replace(/"/g, '');
    return out.versionId && out.versionId !== 'null' ? { etag, versionId: out.versionId } : { etag };
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}
