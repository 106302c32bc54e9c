/**
 * Edge Impulse ingestion (../shared/vendor-contracts.md §1): `POST /api/{category}/files`, one multipart request
 * for many samples (every part named `data`, streamed from S3 part after part), with bounding boxes as a
 * `bounding_boxes.labels` part (§1.2), and one result per sample inside the 200 (`files[i]`). Files share a
 * request only when they share its headers: category, label, metadata (the destination's flags are the same for
 * all its files).
 */
import { Readable } from 'node:stream';
import { recorded } from '#commons/errors.ts';
import { basenameOf, extensionOf } from '#commons/media.ts';
import { multipartBody, type Part } from '#commons/multipart.ts';
// ASCII-only JSON (every other character as a \u escape): any JSON parser reads the same text back, and the
// header carries only ASCII, whatever a server's header decoding.
import { sqsSafeJson } from '#domain/delivery.ts';
import type { RecordedError } from '#domain/status.ts';
import { destinationOrTimeout, isSuccess, jsonObject, noAnswer, transient } from '../common.ts';
import type {
  DeliveryJob,
  DeliveryOutcome,
  Destination,
  JsonObject,
  JsonSchema,
  PreflightInput,
  VendorAnswer,
  VendorContext,
  VendorPlugin,
} from '../types.ts';
import { EDGE_IMPULSE_ASSUMPTIONS as A } from './assumptions.ts';

/** §1.1 [D]: the categories of `/api/{category}/files` (`validation`, `split`, `post-processing`: newer docs). */
export const CATEGORIES = [
  'training',
  'testing',
  'anomaly',
  'validation',
  'split',
  'post-processing',
] as const;
export type Category = (typeof CATEGORIES)[number];

/** §1.1 [D]: at most 1000 files per request. */
export const MAX_FILES_PER_REQUEST = 1000;

/** §1.1 [C]: the extensions the official uploader takes, with the part types it gives them. */
export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  wav: 'audio/wav',
  cbor: 'application/cbor',
  json: 'application/json',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  csv: 'text/csv',
  txt: 'text/plain',
  mp4: 'video/mp4',
  avi: 'video/avi',
  parquet: 'application/vnd.apache.parquet',
};

const nonEmpty = { type: 'string', minLength: 1 };
const coordinate = { type: 'number', minimum: 0 };
const extent = { type: 'number', exclusiveMinimum: 0 };

export const fieldsSchema: JsonSchema = {
  type: 'object',
  required: ['label'],
  additionalProperties: false,
  properties: {
    label: {
      description: 'The label (x-label), or false for none (x-no-label: 1).',
      anyOf: [nonEmpty, { const: false }],
    },
    category: { description: "Overrides the destination's category for this file.", enum: [...CATEGORIES] },
    metadata: {
      description: 'x-metadata: name → value (numbers and booleans are sent as text).',
      type: 'object',
      additionalProperties: { type: ['string', 'number', 'boolean'] },
    },
    boundingBoxes: {
      description:
        'Sent in a bounding_boxes.labels part under the file name (§1.2); other properties are dropped.',
      type: 'array',
      items: {
        type: 'object',
        required: ['label', 'x', 'y', 'width', 'height'],
        properties: { label: nonEmpty, x: coordinate, y: coordinate, width: extent, height: extent },
      },
    },
    fileName: { description: "The sample's file name (default: the object's base name).", ...nonEmpty },
  },
};

export const optionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    category: {
      description: 'The dataset category the files go to (default training).',
      enum: [...CATEGORIES],
    },
    allowDuplicates: {
      type: 'boolean',
      description:
        'Store a file even when the project holds the same content (default false: x-disallow-duplicates: 1).',
    },
    addDateId: {
      type: 'boolean',
      description:
        'x-add-date-id: 1, Edge Impulse appends a unique id to each stored file name (default false).',
    },
  },
};

interface Sample {
  label: string | false;
  category: Category;
  metadata: Record<string, string>;
  boundingBoxes?: Array<{ label: string; x: number; y: number; width: number; height: number }>;
  fileName: string;
}

function isCategory(v: unknown): v is Category {
  return typeof v === 'string' && (CATEGORIES as readonly string[]).includes(v);
}

/** What the router's fields and the destination's options ask for one job. */
export function sampleOf(job: Pick<DeliveryJob, 'fields' | 'object'>, destination: Destination): Sample {
  const f = job.fields;
  const category = isCategory(f.category)
    ? f.category
    : isCategory(destination.options.category)
      ? destination.options.category
      : 'training';
  const metadata: Record<string, string> = {};
  const raw = f.metadata;
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
    for (const [k, v] of Object.entries(raw).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') metadata[k] = String(v);
    }
  }
  const sample: Sample = {
    label: f.label === false ? false : typeof f.label === 'string' ? f.label : false,
    category,
    metadata,
    fileName: typeof f.fileName === 'string' && f.fileName ? f.fileName : basenameOf(job.object.key),
  };
  if (Array.isArray(f.boundingBoxes)) {
    sample.boundingBoxes = f.boundingBoxes.map((b) => {
      const box = (b ?? {}) as JsonObject;
      return {
        label: String(box.label),
        x: Number(box.x),
        y: Number(box.y),
        width: Number(box.width),
        height: Number(box.height),
      };
    });
  }
  return sample;
}

/** A lone UTF-16 surrogate (from a mangled sidecar) cannot be URL-encoded: it becomes U+FFFD. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** §1.1 [C]: the label URL-encoded, as the CLI sends it (the service decodes it). */
export function encodeLabel(label: string): string {
  return encodeURIComponent(label.replace(LONE_SURROGATE, '\ufffd'));
}

/** The per-request headers a sample needs (besides the key and the body's): label, metadata, flags. */
export function requestHeaders(sample: Sample, options: JsonObject): Record<string, string> {
  const h: Record<string, string> = {};
  if (sample.label === false) {
    // As the CLI sends "unlabeled": an empty label and x-no-label, so that none is inferred from the name.
    h['x-label'] = '';
    h['x-no-label'] = '1';
  } else {
    h['x-label'] = encodeLabel(sample.label);
  }
  if (options.allowDuplicates !== true) h['x-disallow-duplicates'] = '1';
  if (options.addDateId === true) h['x-add-date-id'] = '1';
  if (Object.keys(sample.metadata).length > 0) h['x-metadata'] = sqsSafeJson(sample.metadata);
  return h;
}

/** Files whose requests would carry the same headers may share one. */
export function groupKey(job: DeliveryJob, destination: Destination): string {
  const s = sampleOf(job, destination);
  return JSON.stringify([s.category, s.label, s.metadata]);
}

/** The documented key shape: `ei_…` (§1.1 [C]). */
export function checkCredentials(key: string): string | undefined {
  return key.startsWith(A.keyPrefix) ? undefined : `is not an Edge Impulse API key (ei_…)`;
}

/** §1.1: the extensions Edge Impulse takes, ≤ 100 MB, not empty. Content is not read: Edge Impulse sniffs it
 * (a PNG saved under `.jpg` is a valid sample) and answers a file it refuses inside the 200. */
function preflight({ object, fields, destination }: PreflightInput): RecordedError | undefined {
  const sample = sampleOf({ object, fields }, destination);
  const ext = extensionOf(sample.fileName);
  if (!Object.hasOwn(CONTENT_TYPES, ext)) {
    return recorded(
      'UNSUPPORTED_EXTENSION',
      `Edge Impulse takes .${Object.keys(CONTENT_TYPES).join(', .')} files; "${sample.fileName}" is .${ext || '(none)'}`,
    );
  }
  if (object.size > A.maxFileBytes) {
    return recorded(
      'FILE_TOO_LARGE',
      `${object.size} bytes is over Edge Impulse's limit of 100 MB (${A.maxFileBytes} bytes) per file`,
    );
  }
  if (object.size === 0) return recorded('EMPTY_FILE', 'the object is empty');
  const headers = requestHeaders(sample, destination.options);
  const headerBytes = Object.entries(headers).reduce((n, [k, v]) => n + k.length + v.length + 4, 0);
  if (headerBytes > A.maxHeaderBytes) {
    return recorded(
      'METADATA_TOO_LARGE',
      `the label and metadata take ${headerBytes} bytes of headers, over the ${A.maxHeaderBytes} the relay allows`,
    );
  }
  return undefined;
}

/** A request's time budget: its bytes at the slowest assumed rate, plus the service's time per file. */
export function sendBudgetMs(jobs: readonly Pick<DeliveryJob, 'object'>[]): number {
  const bytes = jobs.reduce((n, j) => n + j.object.size, 0);
  return (
    A.requestOverheadMs + jobs.length * A.perFileMs + Math.ceil((bytes / A.minUploadBytesPerSecond) * 1000)
  );
}

type Answered = Extract<VendorAnswer, { kind: 'answer' }>;

/** What a request-level answer means for every file of the request (no per-file results). */
type RequestVerdict =
  | { kind: 'per-file'; files: unknown[] }
  | { kind: 'all'; outcome: DeliveryOutcome }
  /** The request as a whole was refused (400, 413, 200 `success:false`) and stored nothing: split it. */
  | { kind: 'refused'; error: RecordedError };

function vendorMessage(text: string): string {
  const body = jsonObject(text);
  return typeof body?.error === 'string' ? body.error : text.slice(0, 300);
}

/** Maps a request-level answer (§1.1 response codes, §1.5). */
export function classifyRequest(answer: Answered, sampleCount: number, now = Date.now()): RequestVerdict {
  const { status, text } = answer;
  if (isSuccess(status)) {
    const body = jsonObject(text);
    if (body?.success === true && Array.isArray(body.files) && body.files.length === sampleCount) {
      return { kind: 'per-file', files: body.files };
    }
    if (body?.success === false) {
      return {
        kind: 'refused',
        error: recorded('REQUEST_REFUSED', `Edge Impulse refused the request: ${vendorMessage(text)}`, {
          httpStatus: status,
        }),
      };
    }
    // The service took the request but its answer cannot be mapped to the files: it may hold them.
    return {
      kind: 'all',
      outcome: {
        kind: 'retry',
        ambiguous: true,
        error: recorded(
          'BAD_VENDOR_RESPONSE',
          `${status} without one result per file (${sampleCount} sent): ${text.slice(0, 200)}`,
          { httpStatus: status },
        ),
      },
    };
  }
  const common = destinationOrTimeout('Edge Impulse', answer);
  if (common) return { kind: 'all', outcome: common };
  if (status === 400 || status === 413) {
    return {
      kind: 'refused',
      error: recorded(
        status === 413 ? 'PAYLOAD_TOO_LARGE' : 'REQUEST_REFUSED',
        `Edge Impulse answered ${status}: ${vendorMessage(text)}`,
        { httpStatus: status },
      ),
    };
  }
  if (status === 401 || status === 403) {
    return {
      kind: 'all',
      outcome: {
        kind: 'hold',
        error: recorded(
          'AUTH_FAILED',
          `Edge Impulse refused the API key (${status}): ${vendorMessage(text)}`,
          {
            httpStatus: status,
          },
        ),
      },
    };
  }
  if (status === 404 && A.notFoundHolds) {
    return {
      kind: 'all',
      outcome: {
        kind: 'hold',
        error: recorded(
          'ENDPOINT_NOT_FOUND',
          `Edge Impulse answered 404 for this base_url and category: ${vendorMessage(text)}`,
          { httpStatus: 404 },
        ),
      },
    };
  }
  if (status === 429 || status >= 500)
    return { kind: 'all', outcome: transient('Edge Impulse', answer, now) };
  // 421 "missing header" (§1.1 [D]) and any other 4xx: the request itself is wrong; sending it again cannot help.
  return {
    kind: 'all',
    outcome: {
      kind: 'rejected',
      error: recorded(
        status === 421 ? 'MISSING_HEADER' : 'VENDOR_REJECTED',
        `Edge Impulse answered ${status}: ${vendorMessage(text)}`,
        { httpStatus: status, vendorCode: String(status) },
      ),
    },
  };
}

/**
 * Maps one `files[i]` entry (§1.1 [C]) to its job's outcome. Only `success: false` is the vendor refusing the
 * sample (a duplicate's message aside); an entry of any other shape came inside an answer that took the
 * request, so the sample may be stored: an ambiguous retry naming what is wrong, never a REJECTED.
 */
export function classifyFile(entry: unknown): DeliveryOutcome {
  const isObject = entry !== null && typeof entry === 'object' && !Array.isArray(entry);
  const f = (isObject ? entry : {}) as Record<string, unknown>;
  const hasId = typeof f.sampleId === 'number' || (typeof f.sampleId === 'string' && f.sampleId !== '');
  if (f.success === true && hasId) {
    const detail: JsonObject = {};
    if (typeof f.fileName === 'string') detail.fileName = f.fileName;
    if (typeof f.projectId === 'number') detail.projectId = f.projectId;
    return { kind: 'accepted', status: 'UPLOADED', vendorRef: String(f.sampleId), detail };
  }
  if (typeof f.error === 'string' && f.error.startsWith(A.duplicatePrefix)) {
    const id = A.duplicateIds.exec(f.error)?.[1];
    return {
      kind: 'present',
      error: recorded('DUPLICATE', f.error, { httpStatus: 200, vendorCode: 'DUPLICATE' }),
      ...(id ? { vendorRef: id } : {}),
    };
  }
  if (f.success === false) {
    const why =
      typeof f.error === 'string' && f.error ? f.error : `no reason given: ${JSON.stringify(entry)}`;
    return { kind: 'rejected', error: recorded('SAMPLE_REJECTED', why, { httpStatus: 200 }) };
  }
  const wrong = !isObject
    ? 'is not an object'
    : f.success !== true
      ? `has success ${JSON.stringify(f.success) ?? 'missing'} (neither true nor false)`
      : 'has no sample id';
  return {
    kind: 'retry',
    ambiguous: true,
    error: recorded(
      'BAD_VENDOR_RESPONSE',
      `a file result that ${wrong}: ${String(JSON.stringify(entry)).slice(0, 200)}`,
    ),
  };
}

/**
 * Splits jobs into requests: at most 1000 files (§1.1 [D], counting the `bounding_boxes.labels` part that
 * items with `labelled` add once per request) and `maxRequestBytes`, and one file name once per request
 * (`bounding_boxes.labels` refers to samples by name).
 */
export function requestsOf<T extends { fileName: string; size: number; labelled?: boolean }>(
  items: readonly T[],
): T[][] {
  const out: Array<{ items: T[]; bytes: number; names: Set<string>; labelled: boolean }> = [];
  const files = (r: { items: T[]; labelled: boolean }) => r.items.length + (r.labelled ? 1 : 0);
  for (const item of items) {
    let req = out.find(
      (r) =>
        files(r) + 1 + (item.labelled && !r.labelled ? 1 : 0) <= MAX_FILES_PER_REQUEST &&
        (r.items.length === 0 || r.bytes + item.size <= A.maxRequestBytes) &&
        !r.names.has(item.fileName),
    );
    if (!req) {
      req = { items: [], bytes: 0, names: new Set(), labelled: false };
      out.push(req);
    }
    req.items.push(item);
    req.bytes += item.size;
    req.names.add(item.fileName);
    req.labelled ||= item.labelled === true;
  }
  return out.map((r) => r.items);
}

/**
 * The names a stored `fileName` may answer for: itself and, when `x-add-date-id` renamed it, the name without
 * the id (§1.1 "adds a unique ID to the end", placed before the extension or after it: A.dateIdPlaces).
 */
export function sentNamesOf(stored: string, addDateId: boolean): string[] {
  if (!addDateId) return [stored];
  const parts = stored.split('.');
  const out = [stored];
  const places: readonly string[] = A.dateIdPlaces;
  if (places.includes('before-extension') && parts.length >= 3)
    out.push([...parts.slice(0, -2), parts.at(-1)].join('.'));
  if (places.includes('end') && parts.length >= 2) out.push(parts.slice(0, -1).join('.'));
  return out;
}

/**
 * `files[]` in the order of the names sent, or undefined when they cannot be told apart. In order
 * (A.resultsInPartOrder) when every entry that names its file names the one sent at its place; else by name,
 * when every entry names exactly one file sent and no two the same.
 */
export function matchResults(sent: readonly string[], files: readonly unknown[], addDateId: boolean) {
  const nameOf = (e: unknown) => {
    const n = e !== null && typeof e === 'object' ? (e as Record<string, unknown>).fileName : undefined;
    return typeof n === 'string' ? n : undefined;
  };
  const answers = (e: unknown, name: string | undefined) => {
    const n = nameOf(e);
    return n !== undefined && name !== undefined && sentNamesOf(n, addDateId).includes(name);
  };
  if (files.length !== sent.length) return undefined;
  if (files.every((e, i) => nameOf(e) === undefined || answers(e, sent[i]))) return { files, inOrder: true };
  const byName: unknown[] = new Array(sent.length);
  for (const e of files) {
    const hits = sent.flatMap((name, i) => (answers(e, name) ? [i] : []));
    const at = hits[0];
    if (hits.length !== 1 || at === undefined || byName[at] !== undefined) return undefined;
    byName[at] = e;
  }
  return { files: byName, inOrder: false };
}

interface Pending {
  index: number;
  job: DeliveryJob;
  sample: Sample;
  fileName: string;
  size: number;
  /** It adds the request's `bounding_boxes.labels` part. */
  labelled: boolean;
}

function endpoint(ctx: VendorContext, category: Category): URL {
  return new URL(`${ctx.destination.baseUrl.replace(/\/$/, '')}/api/${category}/files`);
}

/** One `/files` request for these samples (same headers); a refused request is split to find its cause. */
async function send(batch: Pending[], ctx: VendorContext): Promise<DeliveryOutcome[]> {
  const first = batch[0] as Pending;
  const parts: Part[] = batch.map((p) => ({
    name: 'data',
    filename: p.fileName,
    contentType: CONTENT_TYPES[extensionOf(p.fileName)] ?? 'application/octet-stream',
    size: p.size,
    open: () => ctx.objects.stream(p.job.object),
  }));
  const boxes = batch.filter((p) => p.sample.boundingBoxes !== undefined);
  if (boxes.length > 0) {
    const labels = {
      version: 1,
      type: 'bounding-box-labels',
      boundingBoxes: Object.fromEntries(boxes.map((p) => [p.fileName, p.sample.boundingBoxes ?? []])),
    };
    const file = Buffer.from(JSON.stringify(labels), 'utf8');
    parts.push({
      name: 'data',
      filename: 'bounding_boxes.labels',
      contentType: 'application/json',
      size: file.length,
      open: () => Readable.from([file], { objectMode: false }),
    });
  }
  const form = multipartBody(parts, undefined, { openAhead: A.openAhead });
  const key = await ctx.apiKey();
  await ctx.throttle();
  const answer = await ctx.request({
    method: 'POST',
    url: endpoint(ctx, first.sample.category),
    headers: {
      'x-api-key': key,
      ...requestHeaders(first.sample, ctx.destination.options),
      'content-type': form.contentType,
      'content-length': String(form.contentLength),
    },
    body: form.body,
  });
  if (answer.kind === 'no-answer') {
    const outcome = noAnswer('Edge Impulse', answer);
    return batch.map(() => outcome);
  }
  const verdict = classifyRequest(answer, batch.length, ctx.now());
  if (verdict.kind === 'per-file') {
    const sent = batch.map((p) => p.fileName);
    const matched = matchResults(sent, verdict.files, ctx.destination.options.addDateId === true);
    if (matched && !matched.inOrder)
      ctx.log.warn('Edge Impulse answered the files out of order: matched by name', { files: sent.length });
    if (matched) return matched.files.map(classifyFile);
    // Results that name other files than those sent, at their places: the files may be stored, but whose
    // result is whose cannot be told.
    const outcome: DeliveryOutcome = {
      kind: 'retry',
      ambiguous: true,
      error: recorded(
        'RESULTS_UNMATCHED',
        `Edge Impulse's per-file results cannot be matched to the ${sent.length} files sent by name: ${answer.text.slice(0, 200)}`,
        { httpStatus: 200 },
      ),
    };
    return batch.map(() => outcome);
  }
  if (verdict.kind === 'all') return batch.map(() => verdict.outcome);
  if (batch.length === 1 || !A.requestFailureStoresNothing) {
    return batch.map(() => ({ kind: 'rejected', error: verdict.error }) as const);
  }
  const mid = Math.ceil(batch.length / 2);
  ctx.log.warn('Edge Impulse refused a request of several files: sending each half again to find the cause', {
    files: batch.length,
    code: verdict.error.code,
  });
  return [...(await send(batch.slice(0, mid), ctx)), ...(await send(batch.slice(mid), ctx))];
}

async function deliver(jobs: DeliveryJob[], ctx: VendorContext): Promise<DeliveryOutcome[]> {
  const out: DeliveryOutcome[] = new Array(jobs.length);
  // The core groups jobs by `groupKey`; group again so that a call with mixed jobs is still sent correctly.
  const byHeaders = new Map<string, Pending[]>();
  jobs.forEach((job, index) => {
    const sample = sampleOf(job, ctx.destination);
    const key = groupKey(job, ctx.destination);
    const list = byHeaders.get(key) ?? [];
    list.push({
      index,
      job,
      sample,
      fileName: sample.fileName,
      size: job.object.size,
      labelled: sample.boundingBoxes !== undefined,
    });
    byHeaders.set(key, list);
  });
  for (const group of byHeaders.values()) {
    for (const batch of requestsOf(group)) {
      const outcomes = await send(batch, ctx);
      batch.forEach((p, i) => {
        out[p.index] = outcomes[i] as DeliveryOutcome;
      });
    }
  }
  return out;
}

export const edgeImpulse: VendorPlugin = {
  id: 'edge-impulse',
  displayName: 'Edge Impulse ingestion',
  fieldsSchema,
  optionsSchema,
  maxBatch: MAX_FILES_PER_REQUEST,
  maxBatchBytes: A.maxRequestBytes,
  groupKey,
  sendBudgetMs,
  checkCredentials,
  // Extension, size and headers only: nothing to read from the object (headBytes 0).
  preflight: { headBytes: 0, check: preflight },
  infra: {
    // A burst becomes a few large requests: up to 1000 files per invocation, gathered for up to 1 s (Lambda's
    // least for batches above 10; a deployment may set a longer one).
    batchSize: MAX_FILES_PER_REQUEST,
    batchingWindowSeconds: 1,
    timeoutSeconds: 300,
  },
  deliver,
};
