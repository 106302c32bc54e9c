/**
 * Bringing a processed image home: stream it from the result URL into the results bucket (never the ingest
 * bucket: `ctx.results` writes only there), under a key that depends on the delivery alone, with metadata that
 * links it to its source object version, the task and the delivery. The write is a one-time step of the
 * delivery (`ctx.steps`, a claim on its record): a duplicated callback or a callback racing the poller finds
 * it claimed and leaves it to its holder, so one result object is written.
 */
import { Readable } from 'node:stream';
import { errorMessage, recorded } from '#commons/errors.ts';
import { extensionOf } from '#commons/media.ts';
import type { RecordedError } from '#domain/status.ts';
import type { JsonObject, PendingDelivery, VendorContext } from '../types.ts';
import { VENDOR } from './api.ts';
import { INSTAVID360_ASSUMPTIONS as A } from './assumptions.ts';

const TYPES: Record<string, 'jpg' | 'png'> = {
  'image/jpeg': 'jpg',
  'image/jpg': 'jpg',
  'image/pjpeg': 'jpg',
  'image/png': 'png',
};
const CONTENT_TYPES = { jpg: 'image/jpeg', png: 'image/png' } as const;

/** The source key without its extension (`line-1/a/SN1_x.jpg` → `line-1/a/SN1_x`). */
function withoutExtension(key: string): string {
  const slash = key.lastIndexOf('/');
  const dot = key.lastIndexOf('.');
  return dot > slash + 1 ? key.slice(0, dot) : key;
}

/**
 * The result's key under the results prefix, without the prefix: `fields.result_key` (a template the router
 * rendered for this object; a trailing image extension is dropped) or `<destination>/<source key>`, then the
 * result's own extension. One source key gives one result key: a newer version's result replaces the older
 * one (the results bucket keeps versions on AWS), and an older version's result finishing late is not written
 * over it (the sink checks that the source is still its key's current version).
 */
export function resultKey(
  item: Pick<PendingDelivery, 'object' | 'fields' | 'destination'>,
  ext: string,
): string {
  const template = typeof item.fields.result_key === 'string' ? item.fields.result_key : undefined;
  const base = template
    ? template.replace(/^\/+/, '').replace(/\.(jpe?g|png)$/i, '')
    : `${item.destination}/${withoutExtension(item.object.key)}`;
  return `${base}.${ext}`;
}

/** S3 user metadata (ASCII, ≤ 2 KB in all): the source version, the task, the delivery. */
export function resultMetadata(
  item: PendingDelivery,
  task: string,
  reference: string,
): Record<string, string> {
  const meta: Record<string, string> = {
    'source-bucket': item.object.bucket,
    'source-key': encodeURIComponent(item.object.key),
    ...(item.object.versionId ? { 'source-version-id': item.object.versionId } : {}),
    'source-etag': item.object.etag,
    'instavid360-task': task,
    'instavid360-reference': reference,
    'relay-destination': item.destination,
    'relay-delivery': item.deliveryId,
  };
  const size = () => Object.entries(meta).reduce((n, [k, v]) => n + k.length + v.length, 0);
  // A very long source key: keep what locates the source, drop the copies (the reference is the delivery id).
  if (size() > 1900) delete meta['relay-delivery'];
  if (size() > 1900) delete meta['instavid360-reference'];
  if (size() > 1900) {
    meta['source-key'] = meta['source-key']?.slice(0, 1000) ?? '';
    meta['source-key-truncated'] = 'true';
  }
  return meta;
}

export type HomeResult =
  /** `notice`: the task is done but its result was not written (a newer source version superseded it). */
  | { ok: true; detail: JsonObject; notice?: RecordedError }
  | { ok: false; error: RecordedError }
  /** Another check (a callback, the poller) is bringing this result home right now. */
  | { ok: false; busy: true };

function extOf(contentType: string | undefined, url: URL): 'jpg' | 'png' | undefined {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  if (type && TYPES[type]) return TYPES[type];
  const e = extensionOf(url.pathname);
  return e === 'png' ? 'png' : e === 'jpg' || e === 'jpeg' ? 'jpg' : undefined;
}

/**
 * Downloads the result and writes it to the results bucket, once per delivery. [A] §4.2: result URLs are
 * presigned; the relay never sends its token to them (they may be on another host: a CDN, S3).
 */
export async function bringHome(
  ctx: VendorContext,
  item: PendingDelivery,
  task: string,
  reference: string,
  url: string,
): Promise<HomeResult> {
  const step = `result:${task}`;
  if (!(await ctx.steps.claim(item.deliveryId, step, A.resultClaimMs))) return { ok: false, busy: true };
  const home = await download(ctx, item, task, reference, url);
  if (!home.ok) await ctx.steps.release(item.deliveryId, step);
  return home;
}

async function download(
  ctx: VendorContext,
  item: PendingDelivery,
  task: string,
  reference: string,
  url: string,
): Promise<HomeResult> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return { ok: false, error: recorded('BAD_RESULT_URL', `${VENDOR}'s result URL is not a URL`) };
  }
  let res: Awaited<ReturnType<VendorContext['http']['request']>>;
  for (let redirects = 0; ; redirects++) {
    try {
      res = await ctx.http.request({
        origin: target.origin,
        path: `${target.pathname}${target.search}`,
        method: 'GET',
        signal: ctx.signal,
      });
    } catch (err) {
      return {
        ok: false,
        error: recorded('RESULT_DOWNLOAD_FAILED', `downloading the result failed: ${errorMessage(err)}`),
      };
    }
    const location = res.headers.location;
    if (![301, 302, 303, 307, 308].includes(res.statusCode) || typeof location !== 'string') break;
    await res.body.dump().catch(() => undefined);
    let next: URL | undefined;
    try {
      next = new URL(location, target);
    } catch {
      next = undefined;
    }
    if (!next || (next.protocol !== 'https:' && next.protocol !== 'http:'))
      return {
        ok: false,
        error: recorded(
          'RESULT_DOWNLOAD_FAILED',
          `the result URL redirects to something not http(s): ${location}`,
        ),
      };
    if (redirects >= A.maxResultRedirects)
      return {
        ok: false,
        error: recorded(
          'RESULT_DOWNLOAD_FAILED',
          `the result URL redirected more than ${A.maxResultRedirects} times (last to ${next.origin}${next.pathname})`,
        ),
      };
    target = next;
  }
  const fail = async (code: string, message: string): Promise<HomeResult> => {
    await res.body.dump().catch(() => undefined);
    return { ok: false, error: recorded(code, message, { httpStatus: res.statusCode }) };
  };
  if (res.statusCode !== 200)
    return fail('RESULT_DOWNLOAD_FAILED', `the result URL answered ${res.statusCode}`);
  const header = (name: string) => {
    const v = res.headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const ext = extOf(header('content-type'), target);
  if (!ext)
    return fail('RESULT_NOT_AN_IMAGE', `the result is ${header('content-type') ?? 'untyped'}, not JPEG/PNG`);
  const declared = header('content-length');
  const length = declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : undefined;
  if (length !== undefined && length > A.maxResultBytes)
    return fail('RESULT_TOO_LARGE', `the result is ${length} bytes, over ${A.maxResultBytes}`);
  let body: Readable | Buffer = res.body as unknown as Readable;
  if (length === undefined) {
    // No length to stream with: read it (bounded), then write.
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const chunk of res.body) {
      n += (chunk as Buffer).length;
      if (n > A.maxResultBytes)
        return fail('RESULT_TOO_LARGE', `the result is over ${A.maxResultBytes} bytes`);
      chunks.push(chunk as Buffer);
    }
    body = Buffer.concat(chunks);
  }
  const key = resultKey(item, ext);
  try {
    const put = await ctx.results.put({
      key,
      body: body instanceof Buffer ? body : Readable.from(body),
      contentType: CONTENT_TYPES[ext],
      contentLength: length ?? (body as Buffer).length,
      metadata: resultMetadata(item, task, reference),
      source: item.object,
    });
    if (!put.written) {
      await res.body.dump().catch(() => undefined);
      const now = put.superseded.versionId
        ? `version ${put.superseded.versionId}`
        : `ETag ${put.superseded.etag}`;
      return {
        ok: true,
        detail: { task, reference, resultNotWritten: key },
        notice: recorded(
          'OBJECT_SUPERSEDED',
          `the result was not written: s3://${item.object.bucket}/${item.object.key} is now ${now}, a newer upload whose own delivery writes the result under ${key}`,
        ),
      };
    }
    return {
      ok: true,
      detail: {
        task,
        reference,
        result: `s3://${put.bucket}/${put.key}`,
        resultBucket: put.bucket,
        resultKey: put.key,
      },
    };
  } catch (err) {
    await res.body.dump().catch(() => undefined);
    return {
      ok: false,
      error: recorded(
        'RESULT_WRITE_FAILED',
        `writing the result to the results bucket failed: ${errorMessage(err)}`,
      ),
    };
  }
}
