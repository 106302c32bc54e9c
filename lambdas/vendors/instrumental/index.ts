/**
 * Instrumental Image/Video Streams (../shared/vendor-contracts.md §3): one multipart `ingestImage` per file
 * (`file` streamed from S3 + `data` JSON), then `fileStatus` until UPLOADED or FAILED_VALIDATION.
 */

import { recorded } from '#commons/errors.ts';
import { tryJson } from '#commons/http.ts';
import {
  basenameOf,
  extensionOf,
  isProbeError,
  jpegFrame,
  mp4Info,
  sniff,
  splitName,
} from '#commons/media.ts';
import { multipartBody } from '#commons/multipart.ts';
import type { RecordedError } from '#domain/status.ts';
import { destinationOrTimeout, isSuccess, noAnswer, transient } from '../common.ts';
import type {
  DeliveryJob,
  DeliveryOutcome,
  JsonSchema,
  PendingDelivery,
  PollOutcome,
  PreflightInput,
  VendorAnswer,
  VendorContext,
  VendorPlugin,
} from '../types.ts';
import { INSTRUMENTAL_ASSUMPTIONS } from './assumptions.ts';

/** Documented limits (§3.1 [D]). */
export const LIMITS = {
  maxFileBytes: 50 * 1024 * 1024,
  maxJsonBytes: 4 * 1024 * 1024,
  maxMegapixels: 32_000_000,
  maxTags: 100,
  extensions: ['jpg', 'jpeg', 'mp4', 'webm'],
} as const;

const CONTENT_TYPES: Record<string, string> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  mp4: 'video/mp4',
  webm: 'video/webm',
};

const nonEmpty = { type: 'string', minLength: 1 };
const relationship = {
  type: 'object',
  required: ['unitSerial', 'relationshipName'],
  properties: { unitSerial: nonEmpty, relationshipName: nonEmpty },
  additionalProperties: false,
};

export const fieldsSchema: JsonSchema = {
  type: 'object',
  required: ['serialNumber', 'stationName', 'imageType', 'imageTimestamp'],
  additionalProperties: false,
  properties: {
    serialNumber: nonEmpty,
    stationName: nonEmpty,
    imageType: nonEmpty,
    imageTimestamp: {
      type: 'object',
      required: ['iso8601Time', 'ianaTimeZone'],
      additionalProperties: false,
      properties: { iso8601Time: nonEmpty, ianaTimeZone: nonEmpty },
    },
    tags: { type: 'array', items: { type: 'string' }, maxItems: LIMITS.maxTags },
    configName: { type: 'string' },
    imageConfigs: {
      type: 'object',
      required: ['configs'],
      properties: { configs: { type: 'object', additionalProperties: { type: 'string' } } },
      additionalProperties: false,
    },
    fixtureName: { type: 'string' },
    fileName: { type: 'string' },
    lineName: { type: 'string' },
    buildName: { type: 'string' },
    parentAssembly: relationship,
    subassemblies: { type: 'array', items: relationship },
  },
};

export const optionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    checkStatus: {
      type: 'boolean',
      description: 'Follow accepted files with fileStatus until UPLOADED / FAILED_VALIDATION (default true).',
    },
  },
};

/**
 * The documented rules (§3.1), answered from the file's own headers wherever they sit: a JPEG's SOF after large
 * APPn/COM segments, an MP4's moov after its mdat (not "fast start"). A few ranged reads, never the file.
 */
async function preflight({
  object,
  head,
  reader,
  fields,
}: PreflightInput): Promise<RecordedError | undefined> {
  const ext = extensionOf(object.key);
  if (!(LIMITS.extensions as readonly string[]).includes(ext)) {
    return recorded(
      'UNSUPPORTED_EXTENSION',
      `Instrumental takes only .jpg, .jpeg, .mp4 and .webm files; "${basenameOf(object.key)}" is .${ext || '(none)'}`,
    );
  }
  if (object.size > LIMITS.maxFileBytes) {
    return recorded('FILE_TOO_LARGE', `${object.size} bytes is over Instrumental's 50 MB file limit`);
  }
  if (object.size === 0) return recorded('EMPTY_FILE', 'the object is empty');
  const jsonBytes = Buffer.byteLength(JSON.stringify(fields), 'utf8');
  if (jsonBytes > LIMITS.maxJsonBytes) {
    return recorded('DATA_TOO_LARGE', `the data JSON is ${jsonBytes} bytes, over Instrumental's 4 MB limit`);
  }
  const kind = sniff(head);
  if (ext === 'jpg' || ext === 'jpeg') {
    if (kind !== 'jpeg') {
      return recorded('NOT_A_JPEG', `.${ext} file does not start with JPEG magic bytes (found ${kind})`);
    }
    const frame = await jpegFrame(reader);
    if (isProbeError(frame)) {
      // No verdict within the read budget: Instrumental's own validation decides (FAILED_VALIDATION).
      if (frame.error === 'READ_LIMIT') return undefined;
      return recorded(
        frame.error === 'NO_SOF' ? 'JPEG_WITHOUT_FRAME' : 'MALFORMED_JPEG',
        `the JPEG cannot be valid for Instrumental: ${frame.message}`,
      );
    }
    if (frame.width * frame.height > LIMITS.maxMegapixels) {
      return recorded(
        'TOO_MANY_PIXELS',
        `${frame.width}x${frame.height} is ${((frame.width * frame.height) / 1e6).toFixed(1)} MP, over Instrumental's 32 MP limit`,
      );
    }
  }
  if (ext === 'mp4') {
    if (kind !== 'mp4') return recorded('NOT_AN_MP4', `.mp4 file is not an ISO-BMFF file (found ${kind})`);
    const video = await mp4Info(reader);
    if (isProbeError(video)) {
      if (video.error === 'READ_LIMIT') return undefined;
      return recorded(
        video.error === 'NO_VIDEO_TRACK' ? 'NO_VIDEO_TRACK' : 'MALFORMED_MP4',
        `the MP4 cannot be valid for Instrumental: ${video.message}`,
      );
    }
    if (video.codec === 'mp4v') {
      return recorded(
        'UNSUPPORTED_CODEC',
        'the video uses the mp4v codec, which Instrumental refuses (browsers cannot play it); re-encode to H.264',
      );
    }
  }
  if (ext === 'webm' && kind !== 'webm')
    return recorded('NOT_A_WEBM', `.webm file is not EBML (found ${kind})`);
  return undefined;
}

/** A vendor URL under the destination's base URL (a proxy may put the API under a path prefix). */
function endpoint(ctx: VendorContext, path: string): URL {
  return new URL(`${ctx.destination.baseUrl.replace(/\/$/, '')}${path}`);
}

/** The documented key shape (§3.1 [D]): `[project:][name:]INST:V1:<identifier>:<secret>`. */
export function checkCredentials(key: string): string | undefined {
  return /(^|:)INST:V1:[^:]+:[^:]+$/.test(key)
    ? undefined
    : 'is not an Instrumental key (…INST:V1:<identifier>:<secret>)';
}

/**
 * The file's id: a non-empty string, or a finite number as its string form (a JSON id may come back as a
 * number; refusing it would send the file again, and Instrumental does not dedupe).
 */
function fileIdOf(v: unknown): string | undefined {
  if (typeof v === 'string' && v) return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

/** Maps an Instrumental answer to a delivery outcome (§3.1, §3.3: never retry 400/401/413). */
export function classify(
  answer: Extract<VendorAnswer, { kind: 'answer' }>,
  now = Date.now(),
): DeliveryOutcome {
  const { status, text } = answer;
  const body = tryJson(text) as Record<string, unknown> | undefined;
  if (isSuccess(status)) {
    const fileId = fileIdOf(body?.fileId);
    if (fileId) return { kind: 'accepted', status: 'PENDING_VALIDATION', vendorRef: fileId };
    // A 2xx means Instrumental took the request: the file may be stored although its id did not come back.
    return {
      kind: 'retry',
      ambiguous: true,
      error: recorded('BAD_VENDOR_RESPONSE', `${status} without a fileId: ${text.slice(0, 200)}`, {
        httpStatus: status,
      }),
    };
  }
  const common = destinationOrTimeout('Instrumental', answer);
  if (common) return common;
  if (status === 401) {
    return {
      kind: 'hold',
      error: recorded('AUTH_FAILED', 'Instrumental refused the API key (401)', { httpStatus: 401 }),
    };
  }
  if (status === 429 || status >= 500) return transient('Instrumental', answer, now);
  if (status === 413) {
    return {
      kind: 'rejected',
      error: recorded('PAYLOAD_TOO_LARGE', 'Instrumental refused the request as too large (413)', {
        httpStatus: 413,
      }),
    };
  }
  if (typeof body?.code === 'string') {
    return {
      kind: 'rejected',
      error: recorded(body.code, String(body.msg ?? 'rejected'), {
        httpStatus: status,
        vendorCode: body.code,
      }),
    };
  }
  if (typeof body?.error === 'string') {
    const reason = typeof body.reason === 'string' ? `: ${body.reason}` : '';
    return {
      kind: 'rejected',
      error: recorded('INVALID_REQUEST_SCHEMA', `${body.error}${reason}`, {
        httpStatus: status,
        vendorCode: 'SCHEMA',
      }),
    };
  }
  return {
    kind: 'rejected',
    error: recorded('VENDOR_REJECTED', `Instrumental answered ${status}: ${text.slice(0, 300)}`, {
      httpStatus: status,
    }),
  };
}

/**
 * The multipart filename: the object's name with its extension lower-cased (`IMG.JPG` → `IMG.jpg`), which ends
 * in one of the documented extensions whether Instrumental compares them with case or without (an [A]).
 */
export function uploadFilename(key: string): string {
  const { stem, extension } = splitName(key);
  return extension && INSTRUMENTAL_ASSUMPTIONS.lowerCaseExtension
    ? `${stem}.${extension.toLowerCase()}`
    : basenameOf(key);
}

async function ingestOne(job: DeliveryJob, ctx: VendorContext): Promise<DeliveryOutcome> {
  const ext = extensionOf(job.object.key);
  const filename = uploadFilename(job.object.key);
  const form = multipartBody([
    {
      name: 'file',
      filename,
      contentType: CONTENT_TYPES[ext] ?? 'application/octet-stream',
      size: job.object.size,
      open: () => ctx.objects.stream(job.object),
    },
    { name: 'data', value: JSON.stringify(job.fields), contentType: 'application/json' },
  ]);
  const key = await ctx.apiKey();
  await ctx.throttle();
  const answer = await ctx.request({
    method: 'POST',
    url: endpoint(ctx, '/api/v0/externalData/ingestImage'),
    headers: {
      'instrumental-api-key': key,
      'content-type': form.contentType,
      'content-length': String(form.contentLength),
    },
    body: form.body,
  });
  // No idempotency key exists (§3.2): a request sent in full without an answer may have stored the file.
  return answer.kind === 'answer' ? classify(answer, ctx.now()) : noAnswer('Instrumental', answer);
}

type StatusAnswer =
  | { ok: true; statuses: Record<string, string> }
  /** `holds`: the destination cannot be used (the key refused, the API moved): hold it. */
  | { ok: false; badIds: boolean; error: RecordedError; holds?: boolean };

async function fileStatus(ids: string[], ctx: VendorContext): Promise<StatusAnswer> {
  const key = await ctx.apiKey();
  if (INSTRUMENTAL_ASSUMPTIONS.statusCallsUseRateLimit) await ctx.throttle();
  const url = endpoint(ctx, '/api/v0/externalData/fileStatus');
  for (const id of ids) url.searchParams.append('ids', id);
  const answer = await ctx.request({ method: 'GET', url, headers: { 'instrumental-api-key': key } });
  if (answer.kind === 'no-answer') {
    return {
      ok: false,
      badIds: false,
      error: recorded('NETWORK_ERROR', `fileStatus failed: ${answer.error.message}`),
    };
  }
  const body = tryJson(answer.text) as Record<string, unknown> | undefined;
  if (isSuccess(answer.status) && body && typeof body.statuses === 'object' && body.statuses) {
    return { ok: true, statuses: body.statuses as Record<string, string> };
  }
  // A redirect: the API is not at base_url; every check would get it, so the destination is held.
  const moved = destinationOrTimeout('Instrumental fileStatus', answer, false);
  if (moved?.kind === 'hold') return { ok: false, badIds: false, holds: true, error: moved.error };
  const code = typeof body?.code === 'string' ? body.code : undefined;
  return {
    ok: false,
    badIds: answer.status === 400 && (code === 'FILE_NOT_FOUND' || code === 'COULD_NOT_PARSE'),
    holds: answer.status === 401,
    error: recorded(
      answer.status === 401 ? 'AUTH_FAILED' : (code ?? 'STATUS_CHECK_FAILED'),
      `fileStatus answered ${answer.status}: ${String(body?.msg ?? answer.text.slice(0, 200))}`,
      { httpStatus: answer.status, ...(code ? { vendorCode: code } : {}) },
    ),
  };
}

/**
 * One bad id fails the whole fileStatus call (§3.1). Bisect so that the bad ids are found in O(k log n) calls
 * and every good id still gets its status.
 */
async function statusesIsolatingBadIds(
  ids: string[],
  ctx: VendorContext,
  out: Map<string, { status?: string; error?: RecordedError; bad?: boolean; holds?: boolean }>,
): Promise<void> {
  const answer = await fileStatus(ids, ctx);
  if (answer.ok) {
    for (const id of ids) {
      const s = answer.statuses[id];
      out.set(
        id,
        s ? { status: s } : { error: recorded('STATUS_MISSING', 'fileStatus did not list this id') },
      );
    }
    return;
  }
  if (answer.badIds && ids.length > 1) {
    const mid = Math.ceil(ids.length / 2);
    await statusesIsolatingBadIds(ids.slice(0, mid), ctx, out);
    await statusesIsolatingBadIds(ids.slice(mid), ctx, out);
    return;
  }
  for (const id of ids)
    out.set(id, {
      error: answer.error,
      bad: answer.badIds,
      ...(answer.holds ? { holds: true } : {}),
    });
}

function ageMs(item: PendingDelivery, ctx: VendorContext): number {
  return ctx.now() - Date.parse(item.acceptedAt);
}

async function poll(items: PendingDelivery[], ctx: VendorContext): Promise<Map<string, PollOutcome>> {
  const found = new Map<string, { status?: string; error?: RecordedError; bad?: boolean; holds?: boolean }>();
  await statusesIsolatingBadIds(
    items.map((i) => i.vendorRef),
    ctx,
    found,
  );
  const result = new Map<string, PollOutcome>();
  for (const item of items) {
    const f = found.get(item.vendorRef);
    if (f?.status === 'UPLOADED') result.set(item.deliveryId, { kind: 'status', status: 'UPLOADED' });
    else if (f?.status === 'FAILED_VALIDATION') {
      result.set(item.deliveryId, {
        kind: 'status',
        status: 'FAILED_VALIDATION',
        error: recorded(
          'FAILED_VALIDATION',
          'Instrumental validation refused the file (malicious, or not a valid JPEG/MP4/WEBM within the limits)',
          { vendorCode: 'FAILED_VALIDATION' },
        ),
      });
    } else if (f?.bad) {
      result.set(item.deliveryId, {
        kind: 'status',
        status: 'FAILED',
        error: f.error ?? recorded('FILE_NOT_FOUND', 'Instrumental does not know this fileId'),
      });
    } else if (f?.holds && f.error) {
      result.set(item.deliveryId, { kind: 'hold', error: f.error });
    } else if (ageMs(item, ctx) > INSTRUMENTAL_ASSUMPTIONS.pendingDeadlineMs) {
      // Past the deadline a check that keeps failing ends the delivery too, with the last failure in the message.
      const why = f?.error
        ? `no final status after the polling deadline; the last check failed: ${f.error.code}: ${f.error.message}`
        : 'still PENDING_VALIDATION after the polling deadline';
      result.set(item.deliveryId, {
        kind: 'status',
        status: 'FAILED',
        error: recorded(
          'VALIDATION_TIMEOUT',
          why,
          f?.error?.httpStatus ? { httpStatus: f.error.httpStatus } : {},
        ),
      });
    } else if (f?.error) {
      result.set(item.deliveryId, { kind: 'error', error: f.error });
    } else {
      result.set(item.deliveryId, { kind: 'unchanged' });
    }
  }
  return result;
}

export const instrumental: VendorPlugin = {
  id: 'instrumental',
  displayName: 'Instrumental Image/Video Streams',
  fieldsSchema,
  optionsSchema,
  rateLimit: INSTRUMENTAL_ASSUMPTIONS.rateLimit,
  maxBatch: 1,
  checkCredentials,
  preflight: { headBytes: 64 * 1024, check: preflight },
  async deliver(jobs, ctx) {
    const out: DeliveryOutcome[] = [];
    for (const job of jobs) {
      const outcome = await ingestOne(job, ctx);
      if (outcome.kind === 'accepted' && ctx.destination.options.checkStatus === false) {
        out.push({ ...outcome, status: 'UPLOADED' });
      } else {
        out.push(outcome);
      }
    }
    return out;
  },
  poll: {
    maxBatch: INSTRUMENTAL_ASSUMPTIONS.maxStatusIdsPerRequest,
    firstCheckAfterMs: INSTRUMENTAL_ASSUMPTIONS.firstCheckAfterMs,
    run: poll,
  },
};
