/**
 * The InstaVid360 Image API as the plug-in uses it (../shared/vendor-contracts.md §4): the response envelope,
 * the three calls (upload, create a task, task status) and what each answer means.
 */
import type { Readable } from 'node:stream';
import { recorded } from '#commons/errors.ts';
import { multipartBody } from '#commons/multipart.ts';
import { parseRetryAfter } from '#domain/backoff.ts';
import type { RecordedError } from '#domain/status.ts';
import { destinationOrTimeout, isSuccess, jsonObject } from '../common.ts';
import type { DeliveryOutcome, JsonObject, JsonValue, VendorAnswer, VendorContext } from '../types.ts';
import { INSTAVID360_ASSUMPTIONS as A } from './assumptions.ts';

export const VENDOR = 'InstaVid360';

export type ImageKind = 'original' | 'background' | 'overlay';
export type TaskType = 'bg-replace' | 'lpa';

export type Answered = Extract<VendorAnswer, { kind: 'answer' }>;

/** The documented envelope `{success, code, locale, message, data}`, read tolerantly. */
export interface Envelope {
  success: boolean | undefined;
  code: unknown;
  message: string;
  data: Record<string, unknown> | undefined;
  /** `data.messages`: the reasons of a failure. */
  messages: string[];
}

export function envelope(text: string): Envelope | undefined {
  const body = jsonObject(text);
  if (!body) return undefined;
  const data =
    body.data !== null && typeof body.data === 'object' && !Array.isArray(body.data)
      ? (body.data as Record<string, unknown>)
      : undefined;
  const raw = data?.messages;
  const messages = Array.isArray(raw)
    ? raw.filter((m): m is string => typeof m === 'string')
    : typeof raw === 'string'
      ? [raw]
      : [];
  return {
    success: typeof body.success === 'boolean' ? body.success : undefined,
    code: body.code,
    message: typeof body.message === 'string' ? body.message : '',
    data,
    messages,
  };
}

/** The calls, by the API path each uses. */
export type ApiCall = keyof typeof A.defaultApiPaths;

/**
 * A call's URL: base URL (a proxy may add a path) + the API path (`options.api_path` for every call, else the
 * call's documented default) + the path.
 */
export function apiUrl(ctx: VendorContext, call: ApiCall, path: string): URL {
  const base = ctx.destination.baseUrl.replace(/\/+$/, '');
  const apiPath = String(ctx.destination.options.api_path ?? A.defaultApiPaths[call]);
  return new URL(`${base}${apiPath}${path}`);
}

/** What an answer says about the destination or the request, before the call-specific reading. */
export type Refusal =
  | { kind: 'hold'; error: RecordedError; probeAfterMs?: number }
  | { kind: 'retry'; error: RecordedError; retryAfterMs?: number; ambiguous?: boolean }
  | { kind: 'invalid'; messages: string[]; error: RecordedError }
  | { kind: 'other'; error: RecordedError };

function reasons(env: Envelope | undefined, text: string): string {
  if (env?.messages.length) return env.messages.join(' ');
  if (env?.message) return env.message;
  return text.slice(0, 200);
}

/**
 * The answers that mean the same for every call: a 2xx whose `success` is false (the documented failure flag),
 * 401 and 403 (the token), the monthly quota (429 or 403 mentioning a quota, or a Retry-After far beyond a
 * minute; a `success:false` 2xx mentioning a quota), a 3xx (held: ENDPOINT_MOVED) and 408 (retried), the
 * per-minute limit (429), 5xx, 422; and for an upload or a task creation, 404/405 (the base URL or api_path is
 * wrong). Undefined for a 2xx that does not say
 * `success: false`.
 */
export function refusal(
  answer: Answered,
  quotaProbeMs: number,
  now: number,
  call: ApiCall = 'status',
): Refusal | undefined {
  const { status, text } = answer;
  const env = envelope(text);
  const ok = isSuccess(status);
  if (ok && !(A.successFalseIsFailure && env?.success === false)) return undefined;
  const why = reasons(env, text);
  const vendorCode = env?.code !== undefined && env.code !== null ? String(env.code) : undefined;
  const extra = { httpStatus: status, ...(vendorCode ? { vendorCode } : {}) };
  const retryAfterMs = parseRetryAfter(answer.headers['retry-after'], now);
  const mentionsQuota = A.quotaMessage.test(`${env?.message ?? ''} ${env?.messages.join(' ') ?? ''}`);
  if (
    ((status === 429 || status === 403 || ok) && mentionsQuota) ||
    (status === 429 && (retryAfterMs ?? 0) > A.perMinuteRetryAfterMaxMs)
  ) {
    const until =
      retryAfterMs !== undefined ? ` (it resets in ${Math.round(retryAfterMs / 3_600_000)} h)` : '';
    return {
      kind: 'hold',
      error: recorded('QUOTA_EXHAUSTED', `${VENDOR}'s monthly quota is used up${until}: ${why}`, extra),
      probeAfterMs: Math.min(quotaProbeMs, retryAfterMs ?? quotaProbeMs),
    };
  }
  if (ok) {
    return {
      kind: 'invalid',
      messages: env?.messages.length ? env.messages : [why],
      error: recorded('VENDOR_REFUSED', `${VENDOR} answered ${status} with success: false: ${why}`, extra),
    };
  }
  // A redirect (held: the API is elsewhere) or a 408 (retried; only a task creation may have made the task).
  const common = destinationOrTimeout(VENDOR, answer, call === 'task');
  if (common) return common;
  if (status === 401 || status === 403) {
    return {
      kind: 'hold',
      error: recorded('AUTH_FAILED', `${VENDOR} refused the API token (${status}): ${why}`, extra),
    };
  }
  if ((status === 404 || status === 405) && call !== 'status' && A.notFoundHolds) {
    return {
      kind: 'hold',
      error: recorded(
        'ENDPOINT_NOT_FOUND',
        `${VENDOR} has no ${call} endpoint at ${status === 404 ? 'this URL' : 'this URL for POST'} (${status}); check base_url and api_path: ${why}`,
        extra,
      ),
    };
  }
  if (status === 429 || status >= 500) {
    const error = recorded(
      status === 429 ? 'RATE_LIMITED' : 'VENDOR_UNAVAILABLE',
      `${VENDOR} answered ${status}: ${why}`,
      extra,
    );
    return retryAfterMs === undefined ? { kind: 'retry', error } : { kind: 'retry', error, retryAfterMs };
  }
  if (status === 422) {
    return {
      kind: 'invalid',
      messages: env?.messages.length ? env.messages : [why],
      error: recorded('VALIDATION_FAILED', `${VENDOR} refused the request: ${why}`, extra),
    };
  }
  return { kind: 'other', error: recorded('VENDOR_REJECTED', `${VENDOR} answered ${status}: ${why}`, extra) };
}

async function authorization(ctx: VendorContext): Promise<Record<string, string>> {
  return { authorization: `Bearer ${await ctx.apiKey()}`, accept: 'application/json' };
}

/** POST /image/upload/{kind}, multipart field `image` (streamed). */
export async function upload(
  ctx: VendorContext,
  kind: ImageKind,
  file: { filename: string; contentType: string; size: number; open: () => Promise<Readable> | Readable },
): Promise<VendorAnswer> {
  const form = multipartBody([{ name: 'image', ...file }]);
  const headers = await authorization(ctx);
  await ctx.throttle();
  return ctx.request({
    method: 'POST',
    url: apiUrl(ctx, 'upload', `/image/upload/${kind}`),
    headers: {
      ...headers,
      'content-type': form.contentType,
      'content-length': String(form.contentLength),
    },
    body: form.body,
  });
}

/** POST /image/task/{bg-replace|lpa} with the JSON body. */
export async function createTask(
  ctx: VendorContext,
  type: TaskType,
  body: JsonObject,
): Promise<VendorAnswer> {
  const headers = await authorization(ctx);
  await ctx.throttle();
  return ctx.request({
    method: 'POST',
    url: apiUrl(ctx, 'task', `/image/task/${type}`),
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** POST /image/task/{task}: the status (POST, as documented). */
export async function taskStatus(ctx: VendorContext, task: string): Promise<VendorAnswer> {
  const headers = await authorization(ctx);
  await ctx.throttle();
  return ctx.request({
    method: 'POST',
    url: apiUrl(ctx, 'status', `/image/task/${encodeURIComponent(task)}`),
    headers,
  });
}

/** A vendor key (imagekey, task) the relay will put in a URL or a body: short, printable, no separators. */
export function isVendorKey(v: unknown): v is string {
  return typeof v === 'string' && /^[A-Za-z0-9_-]{1,128}$/.test(v);
}

/** The first http(s) URL in `result` (§4.2: `{url}`; anything URL-like is accepted). */
export function resultUrl(result: unknown): string | undefined {
  const seen = new Set<unknown>();
  const walk = (v: unknown): string | undefined => {
    if (typeof v === 'string') return /^https?:\/\//i.test(v) ? v : undefined;
    if (v === null || typeof v !== 'object' || seen.has(v)) return undefined;
    seen.add(v);
    if (!Array.isArray(v)) {
      const preferred = (v as Record<string, unknown>)[A.resultUrlField];
      const hit = walk(preferred);
      if (hit) return hit;
    }
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      const hit = walk(child);
      if (hit) return hit;
    }
    return undefined;
  };
  return walk(result);
}

/** A value small enough to keep on the record (vendorDetail). */
export function asJson(v: unknown): JsonValue {
  return JSON.parse(JSON.stringify(v ?? null)) as JsonValue;
}

/**
 * An upload's answer: the imagekey; or the outcome when the upload did not get through (network, the token,
 * the quota, the per-minute limit, a malformed 200); or the vendor's refusal of the image itself (`refused`),
 * which the caller reads as the photo's fault (the original) or the destination's (background, overlay).
 */
export function uploadResult(
  answer: VendorAnswer,
  what: string,
  quotaProbeMs: number,
  now: number,
):
  | { ok: true; imagekey: string }
  | { ok: false; outcome: DeliveryOutcome }
  | { ok: false; refused: Extract<Refusal, { kind: 'invalid' | 'other' }> } {
  if (answer.kind === 'no-answer')
    // Never ambiguous for a delivery: an upload kept without an answer is an orphan image, not a task.
    return {
      ok: false,
      outcome: {
        kind: 'retry',
        error: recorded('NETWORK_ERROR', `uploading the ${what} failed: ${answer.error.message}`),
      },
    };
  const refused = refusal(answer, quotaProbeMs, now, 'upload');
  if (refused?.kind === 'hold' || refused?.kind === 'retry') return { ok: false, outcome: refused };
  if (refused) return { ok: false, refused };
  const imagekey = envelope(answer.text)?.data?.imagekey;
  if (!isVendorKey(imagekey))
    return {
      ok: false,
      outcome: {
        kind: 'retry',
        error: recorded('BAD_VENDOR_RESPONSE', `the ${what}'s upload answered without an imagekey`),
      },
    };
  return { ok: true, imagekey };
}
