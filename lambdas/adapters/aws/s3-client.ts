/**
 * The four S3 operations the relay's Lambdas use (HeadObject, GetObject, ListObjectsV2, PutObject), on S3's
 * REST protocol, for the S3 adapter (../s3.ts). Buckets are addressed as the SDK addresses them:
 * virtual-hosted (`<bucket>.s3.<region>.amazonaws.com`), by path when asked (`forcePathStyle`, the local
 * emulator) or when the bucket name has a dot (TLS certificates do not cover it as a subdomain).
 *
 * Error answers become AwsErrors named by S3's `<Code>` (`NoSuchKey`, `AccessDenied`, `SlowDown`); a HEAD has
 * no body, so its errors are named by status as the SDK names them (`NotFound`, `Forbidden`).
 */
import type { Readable } from 'node:stream';
import {
  AwsError,
  type AwsResponse,
  AwsTransport,
  observe,
  readText,
  type TransportOptions,
} from './transport.ts';

export interface S3ClientOptions extends TransportOptions {
  forcePathStyle?: boolean;
}

export interface HeadResult {
  contentLength: number;
  etag: string;
  contentType?: string;
  lastModified?: Date;
  versionId?: string;
  /** User metadata (`x-amz-meta-*`), names lower-cased, without the prefix. */
  metadata: Record<string, string>;
}

export interface GetResult extends HeadResult {
  body: Readable;
}

export interface ListResult {
  contents: Array<{ key: string; lastModified?: Date; size?: number }>;
  nextContinuationToken?: string;
}

/** A key as a path: each segment percent-encoded as SigV4 canonicalizes it (RFC 3986), `/` kept. */
export function encodeKey(key: string): string {
  return key
    .split('/')
    .map((s) =>
      encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`),
    )
    .join('/');
}

const STATUS_NAMES: Record<number, string> = {
  301: 'PermanentRedirect',
  304: 'NotModified',
  400: 'BadRequest',
  403: 'Forbidden',
  404: 'NotFound',
  412: 'PreconditionFailed',
  416: 'InvalidRange',
  500: 'InternalError',
  503: 'ServiceUnavailable',
};

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** XML text content with its entities decoded. */
export function xmlText(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (_, e: string) =>
    e.startsWith('#x')
      ? String.fromCodePoint(Number.parseInt(e.slice(2), 16))
      : e.startsWith('#')
        ? String.fromCodePoint(Number(e.slice(1)))
        : (ENTITIES[e] ?? ''),
  );
}

/** The text of the first `<tag>` in `xml` (no nesting of the same tag in what S3 sends). */
function tag(xml: string, name: string): string | undefined {
  const m = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml);
  return m ? xmlText(m[1] as string) : undefined;
}

function headerOf(res: AwsResponse, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

const ENCODED_WORD = /=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g;

/**
 * A user metadata value as it was uploaded. S3 returns a value that is not US-ASCII as RFC 2047 encoded-words
 * (`=?UTF-8?B?UHLDvGZzdGFuZA==?=` for "Prüfstand"), which a `{meta.station}` template must not hand to a vendor
 * as is. Whitespace between two encoded-words is dropped (RFC 2047 §6.2); an unknown charset or a malformed
 * word is left as it came. Written here rather than taken from a MIME library: this is the whole of what is
 * needed, and those libraries bring charset tables the Lambda bundles would carry for nothing.
 */
export function decodeMetadataValue(value: string): string {
  if (!value.includes('=?')) return value;
  return value
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(ENCODED_WORD, (word, charset: string, enc: string, text: string) => {
      try {
        const bytes =
          enc.toUpperCase() === 'B'
            ? Buffer.from(text, 'base64')
            : Buffer.from(
                text
                  .replace(/_/g, ' ')
                  .replace(/=([0-9A-Fa-f]{2})/g, (_, h: string) =>
                    String.fromCharCode(Number.parseInt(h, 16)),
                  ),
                'latin1',
              );
        return new TextDecoder(charset.split('*')[0], { fatal: true }).decode(bytes);
      } catch {
        return word;
      }
    });
}

function headOf(res: AwsResponse): HeadResult {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers))
    if (k.startsWith('x-amz-meta-') && v !== undefined)
      metadata[k.slice(11)] = decodeMetadataValue(Array.isArray(v) ? v.join(',') : v);
  const lastModified = headerOf(res, 'last-modified');
  const contentType = headerOf(res, 'content-type');
  const versionId = headerOf(res, 'x-amz-version-id');
  return {
    contentLength: Number(headerOf(res, 'content-length') ?? 0),
    etag: headerOf(res, 'etag') ?? '',
    metadata,
    ...(contentType ? { contentType } : {}),
    ...(lastModified ? { lastModified: new Date(lastModified) } : {}),
    ...(versionId ? { versionId } : {}),
  };
}

async function s3Error(res: AwsResponse, method: string): Promise<AwsError> {
  const text = method === 'HEAD' ? '' : await readText(res.body).catch(() => '');
  if (method === 'HEAD') res.body.resume();
  const code = tag(text, 'Code') ?? STATUS_NAMES[res.status] ?? `Http${res.status}`;
  return new AwsError(code, tag(text, 'Message') ?? `${code} (HTTP ${res.status})`, res.status);
}

export class S3Client {
  readonly transport: AwsTransport;
  private readonly forcePathStyle: boolean;

  constructor(opts: S3ClientOptions = {}) {
    this.transport = new AwsTransport('s3', opts);
    this.forcePathStyle = opts.forcePathStyle ?? false;
  }

  /** Where a request about `bucket`/`key` goes: the virtual host (with the endpoint's port) and the path. */
  addressOf(bucket: string, key: string | undefined, query: string): { host?: string; path: string } {
    const q = query ? `?${query}` : '';
    if (this.forcePathStyle || bucket.includes('.'))
      return { path: `/${bucket}${key === undefined ? '' : `/${encodeKey(key)}`}${q}` };
    return {
      host: `${bucket}.${this.transport.endpoint.host}`,
      path: `/${key === undefined ? '' : encodeKey(key)}${q}`,
    };
  }

  private async op<T>(
    operation: string,
    method: 'GET' | 'HEAD' | 'PUT',
    bucket: string,
    key: string | undefined,
    query: URLSearchParams,
    decode: (res: AwsResponse) => Promise<T> | T,
    extra: { headers?: Record<string, string>; body?: Buffer | Readable } = {},
  ): Promise<T> {
    const done = observe('s3', operation);
    try {
      const out = await this.transport.call(
        {
          operation,
          method,
          ...this.addressOf(bucket, key, query.toString().replace(/\+/g, '%20')),
          ...extra,
        },
        async (res) => {
          if (res.status < 200 || res.status >= 300) throw await s3Error(res, method);
          return decode(res);
        },
      );
      done({ output: undefined });
      return out;
    } catch (err) {
      done({ error: err });
      throw err;
    }
  }

  headObject(bucket: string, key: string, versionId?: string): Promise<HeadResult> {
    const q = new URLSearchParams(versionId ? { versionId } : {});
    return this.op('HeadObject', 'HEAD', bucket, key, q, (res) => {
      res.body.resume();
      return headOf(res);
    });
  }

  /**
   * The object (or `range`, `bytes=a-b`) with its body unread: the caller reads or streams it. `ifMatch` (an
   * ETag, quoted) makes S3 answer 412 PreconditionFailed when the object under the key is no longer that one.
   */
  getObject(
    bucket: string,
    key: string,
    opts: { versionId?: string; range?: string; ifMatch?: string } = {},
  ): Promise<GetResult> {
    const q = new URLSearchParams(opts.versionId ? { versionId: opts.versionId } : {});
    return this.op('GetObject', 'GET', bucket, key, q, (res) => ({ ...headOf(res), body: res.body }), {
      headers: {
        ...(opts.range ? { Range: opts.range } : {}),
        ...(opts.ifMatch ? { 'If-Match': opts.ifMatch } : {}),
      },
    });
  }

  listObjectsV2(
    bucket: string,
    prefix: string,
    maxKeys: number,
    continuationToken?: string,
  ): Promise<ListResult> {
    const q = new URLSearchParams({ 'list-type': '2', prefix, 'max-keys': String(maxKeys) });
    if (continuationToken) q.set('continuation-token', continuationToken);
    return this.op('ListObjectsV2', 'GET', bucket, undefined, q, async (res) => {
      const xml = await readText(res.body);
      const contents: ListResult['contents'] = [];
      for (const m of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
        const part = m[1] as string;
        const key = tag(part, 'Key');
        if (key === undefined) continue;
        const lastModified = tag(part, 'LastModified');
        const size = tag(part, 'Size');
        contents.push({
          key,
          ...(lastModified ? { lastModified: new Date(lastModified) } : {}),
          ...(size ? { size: Number(size) } : {}),
        });
      }
      const truncated = tag(xml, 'IsTruncated') === 'true';
      const next = tag(xml, 'NextContinuationToken');
      return { contents, ...(truncated && next ? { nextContinuationToken: next } : {}) };
    });
  }

  async putObject(input: {
    bucket: string;
    key: string;
    body: Buffer | Readable;
    contentType: string;
    contentLength: number;
    metadata?: Record<string, string>;
  }): Promise<{ etag: string; versionId?: string }> {
    const headers: Record<string, string> = {
      'Content-Type': input.contentType,
      'Content-Length': String(input.contentLength),
    };
    for (const [k, v] of Object.entries(input.metadata ?? {})) headers[`x-amz-meta-${k.toLowerCase()}`] = v;
    return this.op(
      'PutObject',
      'PUT',
      input.bucket,
      input.key,
      new URLSearchParams(),
      (res) => {
        res.body.resume();
        const versionId = headerOf(res, 'x-amz-version-id');
        return { etag: headerOf(res, 'etag') ?? '', ...(versionId ? { versionId } : {}) };
      },
      { headers, body: input.body },
    );
  }

  destroy(): void {
    this.transport.destroy();
  }
}
