/**
 * Serving the ops page, the same way from the local stack's HTTP API (local/stack.ts) and from `relay ui`
 * (ui/proxy.ts): `GET /ui/` → the page, `/ui/app.js`, `/ui/app.css`, and `GET /ui/object?delivery=ID[&result=1]`
 * → the delivery's object (or its result object) read from S3 by the server, so the browser shows the image
 * without S3 credentials or a public bucket. The object read looks the delivery up through the ops API first
 * (`GET /v1/deliveries/{id}`), so the page can only read objects the relay has a record of, from the bucket that
 * record names or the results bucket.
 */
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { buildPage } from './build.ts';

export interface UiAnswer {
  statusCode: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface StoredObject {
  contentType: string;
  body: Buffer;
}

export interface ObjectSource {
  /** Where result objects (resultKey) live; without it, result reads answer 404. */
  resultsBucket?: string;
  /** GET /v1/deliveries/{id} through the ops API: the envelope's `response`, or undefined for 404. */
  delivery(
    id: string,
  ): Promise<{ bucket: string; key: string; versionId?: string; resultKey?: string } | undefined>;
  /** Reads one object (s3Reader), undefined when it does not exist. */
  read(input: { bucket: string; key: string; versionId?: string }): Promise<StoredObject | undefined>;
}

/** `MAX_OBJECT_BYTES`: the proxy reads nothing larger into the browser. */
export const MAX_OBJECT_BYTES = 64 * 1024 * 1024;

export class ObjectTooLargeError extends Error {}

/** ObjectSource.read through an S3 client (the local emulator's, or one on the operator's credentials). */
export function s3Reader(s3: S3Client): ObjectSource['read'] {
  return async ({ bucket, key, versionId }) => {
    try {
      const out = await s3.send(
        new GetObjectCommand({ Bucket: bucket, Key: key, ...(versionId ? { VersionId: versionId } : {}) }),
      );
      if ((out.ContentLength ?? 0) > MAX_OBJECT_BYTES) {
        await out.Body?.transformToWebStream().cancel();
        throw new ObjectTooLargeError(`the object is larger than ${MAX_OBJECT_BYTES} bytes`);
      }
      return {
        contentType: out.ContentType ?? 'application/octet-stream',
        body: Buffer.from((await out.Body?.transformToByteArray()) ?? new Uint8Array()),
      };
    } catch (err) {
      const name = (err as { name?: string }).name ?? '';
      if (name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchVersion') return undefined;
      throw err;
    }
  };
}

/** Page files may only talk to their own origin. */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const text = (statusCode: number, message: string, headers: Record<string, string> = {}): UiAnswer => ({
  statusCode,
  headers: { 'content-type': 'text/plain; charset=utf-8', ...headers },
  body: Buffer.from(message),
});

/**
 * Object types shown inline: images and videos, in which no script runs. Anything else (HTML, SVG, PDF, a type
 * the uploader made up) is sent as a download, since a factory's file must never run as a page on the proxy's
 * origin, where it could call the ops API with the operator's credentials.
 */
const INLINE_TYPES = new Set([
  'image/jpeg',
  'image/png',
  'image/gif',
  'image/webp',
  'image/bmp',
  'image/tiff',
  'video/mp4',
  'video/webm',
  'video/quicktime',
]);

/** An object opened on its own is a sandboxed document that may load nothing: no script, no requests. */
const OBJECT_CSP = "default-src 'none'; img-src 'self'; media-src 'self'; sandbox";

/** Content-Disposition for a download: an ASCII fallback name and the exact one (RFC 6266 / 8187). */
function attachment(key: string): string {
  const name = key.slice(key.lastIndexOf('/') + 1) || 'object';
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

/** The headers an object is served with: inline only for INLINE_TYPES, always sandboxed and unsniffed. */
export function objectHeaders(contentType: string, key: string): Record<string, string> {
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  const inline = INLINE_TYPES.has(type);
  return {
    'content-type': inline ? type : 'application/octet-stream',
    ...(inline ? {} : { 'content-disposition': attachment(key) }),
    'content-security-policy': OBJECT_CSP,
    'cache-control': 'private, max-age=300',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  };
}

async function objectAnswer(query: URLSearchParams, src: ObjectSource): Promise<UiAnswer> {
  const id = query.get('delivery');
  if (!id) return text(400, 'delivery= is required');
  const d = await src.delivery(id);
  if (!d) return text(404, 'no such delivery');
  const result = query.get('result') === '1';
  if (result && (!d.resultKey || !src.resultsBucket)) return text(404, 'this delivery has no result object');
  try {
    const obj = await src.read(
      result
        ? { bucket: src.resultsBucket!, key: d.resultKey! }
        : { bucket: d.bucket, key: d.key, ...(d.versionId ? { versionId: d.versionId } : {}) },
    );
    if (!obj) return text(404, 'object not found');
    return {
      statusCode: 200,
      headers: objectHeaders(obj.contentType, result ? d.resultKey! : d.key),
      body: obj.body,
    };
  } catch (err) {
    if (err instanceof ObjectTooLargeError) return text(413, err.message);
    throw err;
  }
}

/**
 * Answers a request under /ui: `path` is the request path (e.g. `/ui/`, `/ui/app.js`, `/ui/object`), `query`
 * its query string. A path outside /ui answers 404.
 */
export async function uiAnswer(path: string, query: URLSearchParams, src: ObjectSource): Promise<UiAnswer> {
  if (path === '/ui') return text(308, 'moved to /ui/', { location: '/ui/' });
  if (!path.startsWith('/ui/')) return text(404, 'not found');
  const name = path.slice('/ui/'.length) || 'index.html';
  if (name === 'object') return objectAnswer(query, src);
  const file = (await buildPage()).get(name);
  if (!file) return text(404, 'not found');
  return {
    statusCode: 200,
    headers: {
      'content-type': file.contentType,
      'cache-control': 'no-cache',
      'content-security-policy': CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    },
    body: file.body,
  };
}

/** The ops API's envelope → the delivery, or undefined for 404 (ObjectSource.delivery's helper). */
export async function deliveryFromResponse(
  res: Response,
): Promise<{ bucket: string; key: string; versionId?: string; resultKey?: string } | undefined> {
  if (res.status === 404) return undefined;
  const env = (await res.json()) as {
    success?: boolean;
    response?: { bucket: string; key: string; versionId?: string; resultKey?: string };
    error?: { code: string; text: string };
  };
  if (!res.ok || !env.success || !env.response)
    throw new Error(
      `GET /v1/deliveries answered ${res.status} ${env.error?.code ?? ''} ${env.error?.text ?? ''}`,
    );
  return env.response;
}
