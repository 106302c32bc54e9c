/**
 * S3 adapter: reads factory objects (never writes or deletes them) and writes vendor results to the results
 * bucket.
 */

import type { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { ENV, optionalEnv } from '#commons/env.ts';
import type { ObjectVersion } from '#domain/ops/types.ts';
import type { ObjectHeadInfo } from '#domain/route.ts';
import type { ObjectRef, ObjectSource, ResultSink } from '#vendors/types.ts';

export function createS3Client(env: NodeJS.ProcessEnv = process.env): S3Client {
  return new S3Client({ forcePathStyle: optionalEnv(ENV.s3ForcePathStyle, env) === 'true' });
}

/** What the router reads of an object (its port type, defined by the domain). */
export type ObjectHead = ObjectHeadInfo;

const isNotFound = (err: unknown): boolean =>
  err instanceof NoSuchKey ||
  err instanceof NotFound ||
  (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 404);

export class S3Objects implements ObjectSource {
  constructor(private readonly s3: S3Client) {}

  /** HeadObject of one version; undefined when it no longer exists. */
  async describe(ref: Pick<ObjectRef, 'bucket' | 'key' | 'versionId'>): Promise<ObjectHead | undefined> {
    try {
      const out = await this.s3.send(
        new HeadObjectCommand({ Bucket: ref.bucket, Key: ref.key, VersionId: ref.versionId }),
      );
      const head: ObjectHead = {
        size: out.ContentLength ?? 0,
        etag: (out.ETag ?? '').replace(/"/g, ''),
        metadata: lowerKeys(out.Metadata ?? {}),
      };
      if (out.ContentType) head.contentType = out.ContentType;
      if (out.LastModified) head.lastModified = out.LastModified.toISOString();
      if (out.VersionId) head.versionId = out.VersionId;
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
      const out = await this.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const size = out.ContentLength ?? 0;
      if (size > maxBytes) {
        (out.Body as Readable | undefined)?.destroy();
        return { kind: 'too-large', size };
      }
      return { kind: 'found', text: (await out.Body?.transformToString('utf8')) ?? '' };
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
    const out = await this.s3.send(
      new GetObjectCommand({
        Bucket: ref.bucket,
        Key: ref.key,
        VersionId: ref.versionId,
        Range: `bytes=${start}-${end - 1}`,
      }),
    );
    const arr = await out.Body?.transformToByteArray();
    return Buffer.from(arr ?? new Uint8Array()).subarray(0, end - start);
  }

  /** Keys under a prefix, at most `max` (one ListObjectsV2 page). */
  async listKeys(bucket: string, prefix: string, max: number): Promise<string[]> {
    const out = await this.s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: max }),
    );
    return (out.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [o.Key]));
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
    const out = await this.s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: max, ContinuationToken: next }),
    );
    const versions: ObjectVersion[] = [];
    for (const o of out.Contents ?? []) {
      if (o.Key === undefined) continue;
      const head = await this.describe({ bucket, key: o.Key });
      if (!head) continue;
      versions.push({
        key: o.Key,
        ...(head.versionId && head.versionId !== 'null' ? { versionId: head.versionId } : {}),
        etag: head.etag,
        size: head.size,
        lastModified: (o.LastModified ?? new Date(0)).toISOString(),
        isLatest: true,
      });
    }
    return { versions, ...(out.NextContinuationToken ? { next: out.NextContinuationToken } : {}) };
  }

  async stream(ref: ObjectRef): Promise<Readable> {
    const out = await this.s3.send(
      new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key, VersionId: ref.versionId }),
    );
    if (!out.Body) throw new Error(`s3://${ref.bucket}/${ref.key} has no body`);
    return out.Body as Readable;
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
  }): Promise<{ bucket: string; key: string }> {
    const key = `${this.prefix}${input.key}`;
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: input.body,
        ContentType: input.contentType,
        ContentLength: input.contentLength,
        Metadata: input.metadata,
      }),
    );
    return { bucket: this.bucket, key };
  }
}

function lowerKeys(m: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m)) out[k.toLowerCase()] = v;
  return out;
}
