/**
 * InstaVid360 Image API (../shared/vendor-contracts.md §4): the one vendor whose work comes back.
 *
 * deliver: upload the original (field `image`, streamed from S3) → imagekey (checkpointed); the destination's
 *   background and overlay once per content (imagekeys cached by SHA-256 in the status table); create the
 *   bg-replace or LPA task with `reference` = the delivery id (the vendor refuses a second task with it) and a
 *   signed per-delivery `callback_url` → PROCESSING with the task key.
 * poll (the poller, and a callback's re-check): POST the task's status; `complete` → the result streamed into
 *   the results bucket, then COMPLETED with its location; `failed` → FAILED with the vendor's reasons; past the
 *   deadline → FAILED TASK_TIMEOUT. A callback's body is never trusted: it only tells the relay to ask.
 */
import { createHash } from 'node:crypto';
import { errorMessage, recorded } from '#commons/errors.ts';
import { basenameOf, sniff } from '#commons/media.ts';
import type { RecordedError } from '#domain/status.ts';
import { noAnswer } from '../common.ts';
import type {
  DeliveryJob,
  DeliveryOutcome,
  JsonObject,
  JsonSchema,
  JsonValue,
  PendingDelivery,
  PollOutcome,
  PreflightInput,
  VendorContext,
  VendorPlugin,
} from '../types.ts';
import {
  asJson,
  createTask,
  envelope,
  isVendorKey,
  refusal,
  resultUrl,
  type TaskType,
  taskStatus,
  upload,
  uploadResult,
  VENDOR,
} from './api.ts';
import { INSTAVID360_ASSUMPTIONS as A, taskState } from './assumptions.ts';
import {
  type ImageSource,
  imageSourceSchema,
  inlineConfigFiles,
  loadImage,
  objectsRead,
  type StaticKind,
  staticImageKey,
} from './images.ts';
import { bringHome } from './results.ts';

export const fieldsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    meta: {
      type: 'object',
      description: "The task's `meta`: any JSON object, echoed back by InstaVid360 with the task.",
    },
    result_key: {
      type: 'string',
      minLength: 1,
      maxLength: 900,
      pattern: '^[^\\u0000-\\u001f\\u007f]+$',
      description:
        "The result's key under the results prefix, without extension (the result's own is added). Default: <destination>/<source key without extension>.",
    },
  },
};

export const optionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['task'],
  properties: {
    task: {
      enum: ['bg-replace', 'lpa'],
      description: 'bg-replace: background replacement; lpa: licence plate anonymisation.',
    },
    background: { ...imageSourceSchema, description: 'bg-replace: the new background (required).' },
    overlay: { ...imageSourceSchema, description: 'bg-replace: an image laid over the result (optional).' },
    shadow: { type: 'boolean', description: 'bg-replace: include a shadow (options.shadow; default false).' },
    api_path: {
      enum: [...A.apiPaths],
      description: `The API's path under base_url, for every call. Default: each call's documented path (upload ${A.defaultApiPaths.upload}, tasks and status ${A.defaultApiPaths.task}).`,
    },
    callbacks: {
      type: 'boolean',
      description: 'Give InstaVid360 a signed callback_url (default true); false: polling only.',
    },
    callback_grace_seconds: {
      type: 'number',
      minimum: 0,
      maximum: 3600,
      description: `With callbacks, how long the poller leaves a task to its callback before asking (default ${A.defaultCallbackGraceSeconds}).`,
    },
    task_deadline_seconds: {
      type: 'number',
      minimum: 1,
      maximum: 7 * 86_400,
      description: `A task not final this long after it was created is FAILED with TASK_TIMEOUT (default ${A.defaultTaskDeadlineMinutes * 60}).`,
    },
    quota_probe_seconds: {
      type: 'number',
      minimum: 1,
      maximum: 86_400,
      description: `While the monthly quota is used up, how often one delivery probes whether credits are back (default ${A.defaultQuotaProbeSeconds}; sooner when the vendor's Retry-After says so).`,
    },
  },
  allOf: [
    {
      if: { required: ['task'], properties: { task: { const: 'bg-replace' } } },
      // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then, not a thenable
      then: { required: ['background'] },
    },
    {
      if: { required: ['task'], properties: { task: { const: 'lpa' } } },
      // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then, not a thenable
      then: {
        properties: { background: false, overlay: false, shadow: false },
      },
    },
  ],
};

export interface Options {
  task: TaskType;
  background?: ImageSource;
  overlay?: ImageSource;
  shadow: boolean;
  callbacks: boolean;
  callbackGraceMs: number;
  deadlineMs: number;
  quotaProbeMs: number;
}

/** The destination's options (validated with the config), with their defaults. */
export function optionsOf(options: JsonObject): Options {
  const num = (v: JsonValue | undefined, d: number) => (typeof v === 'number' ? v : d);
  return {
    task: options.task === 'lpa' ? 'lpa' : 'bg-replace',
    ...(options.background ? { background: options.background as unknown as ImageSource } : {}),
    ...(options.overlay ? { overlay: options.overlay as unknown as ImageSource } : {}),
    shadow: options.shadow === true,
    callbacks: options.callbacks !== false,
    callbackGraceMs: num(options.callback_grace_seconds, A.defaultCallbackGraceSeconds) * 1000,
    deadlineMs: num(options.task_deadline_seconds, A.defaultTaskDeadlineMinutes * 60) * 1000,
    quotaProbeMs: num(options.quota_probe_seconds, A.defaultQuotaProbeSeconds) * 1000,
  };
}

/**
 * The task's `reference`: the delivery id, so that a retried create cannot make a second task (the vendor
 * refuses a reference it has seen). A delivery id longer than the vendor takes is hashed (still one per
 * delivery, and deterministic).
 */
export function referenceFor(deliveryId: string): string {
  if (deliveryId.length <= A.maxReferenceLength) return deliveryId;
  return `relay-${createHash('sha256').update(deliveryId).digest('base64url')}`;
}

function preflight({ object, head }: PreflightInput): RecordedError | undefined {
  if (object.size === 0) return recorded('EMPTY_FILE', 'the object is empty');
  if (object.size > A.maxUploadBytes)
    return recorded(
      'FILE_TOO_LARGE',
      `${object.size} bytes is over ${VENDOR}'s 2 MB upload limit (read as ${A.maxUploadBytes} bytes)`,
    );
  const kind = sniff(head);
  if (kind !== 'jpeg' && kind !== 'png')
    return recorded(
      'UNSUPPORTED_FORMAT',
      `${VENDOR} takes JPEG or PNG images; "${basenameOf(object.key)}" is ${kind === 'unknown' ? 'neither' : kind}`,
    );
  return undefined;
}

/** The background and overlay of one deliver call: loaded once, keys fetched once, again on a refusal. */
class Statics {
  private loaded: Partial<Record<StaticKind, Awaited<ReturnType<typeof loadImage>>>> = {};
  private keys: Partial<Record<StaticKind, string>> = {};
  /** How many uploads this call made (tests and logs). */
  uploads = 0;

  constructor(
    private readonly ctx: VendorContext,
    private readonly opts: Options,
  ) {}

  /** The imagekeys of the configured background and overlay, or the outcome that stops every job. */
  async get(
    forget: StaticKind[] = [],
  ): Promise<
    { ok: true; background: string; overlay: string | null } | { ok: false; outcome: DeliveryOutcome }
  > {
    for (const kind of ['background', 'overlay'] as const) {
      const src = this.opts[kind];
      if (!src) continue;
      if (this.keys[kind] && !forget.includes(kind)) continue;
      this.loaded[kind] ??= await loadImage(this.ctx, kind, src);
      const image = this.loaded[kind];
      if (!image.ok) return { ok: false, outcome: { kind: 'hold', error: image.error } };
      const key = await staticImageKey(this.ctx, kind, image, this.opts.quotaProbeMs, forget.includes(kind));
      if (!key.ok) return key;
      if (key.uploaded) this.uploads++;
      this.keys[kind] = key.imagekey;
    }
    if (!this.keys.background)
      return {
        ok: false,
        outcome: {
          kind: 'hold',
          error: recorded('BACKGROUND_UNAVAILABLE', 'a bg-replace destination needs options.background'),
        },
      };
    return { ok: true, background: this.keys.background, overlay: this.keys.overlay ?? null };
  }
}

async function uploadOriginal(
  job: DeliveryJob,
  ctx: VendorContext,
  opts: Options,
): Promise<{ ok: true; imagekey: string } | { ok: false; outcome: DeliveryOutcome }> {
  // The declared type must agree with the content (the vendor checks both): sniff, do not trust the name.
  const kind = sniff(await ctx.objects.range(job.object, 0, 16));
  const answer = await upload(ctx, 'original', {
    filename: basenameOf(job.object.key),
    contentType: kind === 'png' ? 'image/png' : 'image/jpeg',
    size: job.object.size,
    open: () => ctx.objects.stream(job.object),
  });
  const read = uploadResult(answer, 'original', opts.quotaProbeMs, ctx.now());
  if (read.ok || 'outcome' in read) return read;
  // The vendor refuses this photo (its type, its size, unreadable): the delivery's fault, not retried.
  const { kind: why, error } = read.refused;
  return {
    ok: false,
    outcome: {
      kind: 'rejected',
      error: { ...error, code: why === 'invalid' ? 'UPLOAD_REFUSED' : error.code },
    },
  };
}

function accepted(
  task: string | undefined,
  reference: string,
  opts: Options,
  note?: string,
): DeliveryOutcome {
  return {
    kind: 'accepted',
    status: 'PROCESSING',
    ...(task ? { vendorRef: task } : {}),
    detail: { reference, taskType: opts.task, ...(task ? { task } : {}), ...(note ? { note } : {}) },
  };
}

async function saveProgress(ctx: VendorContext, job: DeliveryJob, data: JsonObject): Promise<void> {
  try {
    await ctx.checkpoint(job.deliveryId, data);
  } catch (err) {
    // Not fatal: the task's reference still stops a second task; the record gets the key with the outcome.
    ctx.log.warn('could not save the checkpoint', { error: errorMessage(err) });
  }
}

async function deliverOne(job: DeliveryJob, ctx: VendorContext, opts: Options, statics: Statics) {
  const reference = referenceFor(job.deliveryId);
  const cp = job.checkpoint ?? {};
  // An earlier attempt created the task (and its outcome was not recorded): it is the delivery's task.
  if (isVendorKey(cp.task)) return accepted(cp.task, reference, opts);
  let original = isVendorKey(cp.original) ? cp.original : undefined;
  const uploadAgain = async (): Promise<DeliveryOutcome | undefined> => {
    const up = await uploadOriginal(job, ctx, opts);
    if (!up.ok) return up.outcome;
    original = up.imagekey;
    await saveProgress(ctx, job, { reference, original });
    return undefined;
  };
  if (!original) {
    const stopped = await uploadAgain();
    if (stopped) return stopped;
  }
  const callbackUrl = opts.callbacks ? await ctx.callbackUrl(job.deliveryId) : undefined;
  let forget: StaticKind[] = [];
  for (let round = 0; round < 2; round++) {
    const body: JsonObject = { reference, original: original ?? '' };
    if (opts.task === 'bg-replace') {
      const keys = await statics.get(forget);
      if (!keys.ok) return keys.outcome;
      Object.assign(body, {
        background: keys.background,
        overlay: keys.overlay,
        options: { shadow: opts.shadow },
      });
    } else body.options = {};
    body.meta = (job.fields.meta as JsonObject | undefined) ?? {};
    if (callbackUrl) body.callback_url = callbackUrl;
    const answer = await createTask(ctx, opts.task, body);
    // Sent in full without an answer: the task may exist (a retry finds it by its reference).
    if (answer.kind === 'no-answer') return noAnswer(VENDOR, answer);
    const refused = refusal(answer, opts.quotaProbeMs, ctx.now(), 'task');
    if (refused?.kind === 'hold' || refused?.kind === 'retry') return refused;
    // The vendor has this delivery's task (an earlier send's answer was lost) but never told us its key.
    const taskExists = () =>
      accepted(
        undefined,
        reference,
        opts,
        'the task exists (its reference was taken by an earlier send whose answer was lost); its key comes with its callback',
      );
    // The contract's duplicate reference is a 422 with the reason; a 409 is read the same way only when its
    // reasons say so (a conflict about something else stays the refusal it is).
    if (refused?.kind === 'other' && answer.status === 409) {
      const env = envelope(answer.text);
      const reasons = [...(env?.messages ?? []), env?.message ?? ''];
      if (reasons.some((m) => A.duplicateReference.test(m))) return taskExists();
    }
    if (refused?.kind === 'invalid') {
      const says = (re: RegExp) => refused.messages.some((m) => re.test(m));
      if (says(A.duplicateReference)) return taskExists();
      const stale = (['background', 'overlay'] as const).filter((k) => says(A.unknownImageKey(k)));
      if (round === 0 && (stale.length > 0 || says(A.unknownImageKey('original')))) {
        // A key the vendor no longer knows: upload that image again, then create once more.
        if (says(A.unknownImageKey('original'))) {
          const stopped = await uploadAgain();
          if (stopped) return stopped;
        }
        forget = stale;
        continue;
      }
      return { kind: 'rejected', error: refused.error } satisfies DeliveryOutcome;
    }
    if (refused) return { kind: 'rejected', error: refused.error } satisfies DeliveryOutcome;
    const task = envelope(answer.text)?.data?.task;
    if (!isVendorKey(task))
      return {
        kind: 'retry',
        ambiguous: true,
        error: recorded(
          'BAD_VENDOR_RESPONSE',
          `task creation answered without a task key: ${answer.text.slice(0, 200)}`,
        ),
      } satisfies DeliveryOutcome;
    await saveProgress(ctx, job, { reference, original: original ?? '', task });
    return accepted(task, reference, opts);
  }
  return {
    kind: 'rejected',
    error: recorded('VALIDATION_FAILED', `${VENDOR} kept refusing the images' keys after a fresh upload`),
  } satisfies DeliveryOutcome;
}

async function deliver(jobs: DeliveryJob[], ctx: VendorContext): Promise<DeliveryOutcome[]> {
  const opts = optionsOf(ctx.destination.options);
  const statics = new Statics(ctx, opts);
  const out: DeliveryOutcome[] = [];
  let stop: DeliveryOutcome | undefined;
  for (const job of jobs) {
    // Once the destination is held (a quota, the token), the rest of the call waits with it, unsent.
    const outcome = stop ?? (await deliverOne(job, ctx, opts, statics));
    if (outcome.kind === 'hold') stop = outcome;
    out.push(outcome);
  }
  return out;
}

/** The task key a callback's body names (`data.task`): only a hint of what to ask about. */
export function taskHint(body: JsonValue | undefined): string | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const data = body.data;
  const task =
    data !== null && typeof data === 'object' && !Array.isArray(data) ? data.task : (body.task ?? undefined);
  return isVendorKey(task) ? task : undefined;
}

async function checkOne(item: PendingDelivery, ctx: VendorContext, opts: Options): Promise<PollOutcome> {
  const reference = referenceFor(item.deliveryId);
  const age = ctx.now() - Date.parse(item.acceptedAt);
  const late = age > opts.deadlineMs;
  const fromCallback = item.callbackBody !== undefined;
  const timeout = (code: string, message: string): PollOutcome => ({
    kind: 'status',
    status: 'FAILED',
    error: recorded(code, message),
    detail: { reference, ...(item.vendorRef ? { task: item.vendorRef } : {}) },
  });
  let task = isVendorKey(item.vendorRef) ? item.vendorRef : undefined;
  // No key yet (a create whose answer was lost): a callback may name the task; the vendor must confirm it.
  const found = task ? undefined : taskHint(item.callbackBody);
  task ??= found;
  if (!task)
    return late
      ? timeout(
          'TASK_KEY_UNKNOWN',
          `${VENDOR} holds a task with reference ${reference}, but its key never came (a lost answer, and no callback named it) before the ${opts.deadlineMs / 1000} s deadline`,
        )
      : { kind: 'unchanged' };
  // Callbacks on: the poller leaves a young task to its callback (polling is the fallback for a lost one).
  if (!fromCallback && !late && opts.callbacks && age < opts.callbackGraceMs) return { kind: 'unchanged' };

  const answer = await taskStatus(ctx, task);
  // A check that failed leaves the task pending, until the deadline: then FAILED, naming the last failure.
  const checkFailed = (error: RecordedError): PollOutcome =>
    late
      ? timeout(
          'TASK_TIMEOUT',
          `task ${task} has no final status ${Math.round(age / 1000)} s after it was created (deadline ${opts.deadlineMs / 1000} s); the last check failed: ${error.code}: ${error.message}`,
        )
      : { kind: 'error', error };
  if (answer.kind === 'no-answer')
    return checkFailed(recorded('NETWORK_ERROR', `task status failed: ${answer.error.message}`));
  const data = envelope(answer.text)?.data;
  const refused = refusal(answer, opts.quotaProbeMs, ctx.now());
  if (refused?.kind === 'hold') return { kind: 'hold', error: refused.error };
  if (refused && answer.status === 404) {
    if (found) return { kind: 'unchanged' }; // a callback named a task that is not ours
    return {
      kind: 'status',
      status: 'FAILED',
      error: recorded('TASK_NOT_FOUND', `${VENDOR} does not know task ${task}`, { httpStatus: 404 }),
    };
  }
  // `success: false` with the task's status still in `data` (a failed task may be reported so): read it.
  const statusDespiteFailure = answer.status < 300 && typeof data?.status === 'string';
  if (refused && !statusDespiteFailure) return checkFailed(refused.error);
  if (!data) return checkFailed(recorded('BAD_VENDOR_RESPONSE', 'task status without data'));
  // The relay's own reference proves the task is this delivery's (a callback can only suggest a key).
  if (found && data.reference !== reference) return { kind: 'unchanged' };
  // A recorded key whose task names another reference (a vendor mix-up, a data error) is never this
  // delivery's: its status and its result belong to another delivery and are never brought home here.
  if (typeof data.reference === 'string' && data.reference !== reference) {
    return {
      kind: 'status',
      status: 'FAILED',
      error: recorded(
        'TASK_REFERENCE_MISMATCH',
        `task ${task} belongs to reference ${data.reference.slice(0, 300)}, not this delivery (${reference})`,
      ),
      detail: { task, reference },
    };
  }
  const ref = found ? { vendorRef: found } : {};
  const state = taskState(data.status);
  const vendorStatus = typeof data.status === 'string' ? data.status : String(asJson(data.status));
  if (state === 'failed') {
    const env = envelope(answer.text);
    const why = env?.messages.length ? env.messages.join(' ') : env?.message || 'no reason given';
    return {
      kind: 'status',
      status: 'FAILED',
      error: recorded('TASK_FAILED', `${VENDOR} could not process the image: ${why}`, {
        vendorCode: vendorStatus,
      }),
      detail: { task, reference, vendorStatus, messages: env?.messages ?? [] },
      ...ref,
    };
  }
  if (state === 'complete') {
    const url = resultUrl(data.result);
    const home = url
      ? await bringHome(ctx, item, task, reference, url)
      : {
          ok: false as const,
          error: recorded('RESULT_MISSING', `task ${task} is complete but names no result URL`),
        };
    if (home.ok)
      return {
        kind: 'status',
        status: 'COMPLETED',
        detail: home.detail,
        ...(home.notice ? { notice: home.notice } : {}),
        ...ref,
      };
    if ('busy' in home) return { kind: 'unchanged' }; // its holder records COMPLETED
    if (late)
      return { kind: 'status', status: 'FAILED', error: home.error, detail: { task, reference }, ...ref };
    return { kind: 'error', error: home.error };
  }
  if (late)
    return timeout(
      'TASK_TIMEOUT',
      `task ${task} is still "${vendorStatus}" ${Math.round(age / 1000)} s after it was created (deadline ${opts.deadlineMs / 1000} s)`,
    );
  // Still working: note what the vendor says, for ops.
  return { kind: 'status', status: item.status, detail: { task, reference, vendorStatus }, ...ref };
}

async function poll(items: PendingDelivery[], ctx: VendorContext): Promise<Map<string, PollOutcome>> {
  const opts = optionsOf(ctx.destination.options);
  const out = new Map<string, PollOutcome>();
  for (const item of items) {
    if (ctx.signal.aborted) break;
    try {
      out.set(item.deliveryId, await checkOne(item, ctx, opts));
    } catch (err) {
      // Out of time (or of rate-limit tokens before the deadline): the rest waits for the next run.
      if (ctx.signal.aborted || (err as Error).name === 'RateLimitTimeout') break;
      throw err;
    }
  }
  return out;
}

export const instavid360: VendorPlugin = {
  id: 'instavid360',
  displayName: 'InstaVid360 Image API',
  fieldsSchema,
  optionsSchema,
  inlineConfigFiles,
  objectsRead,
  rateLimit: A.rateLimit,
  callback: { rateShare: A.callbackRateShare },
  // One job per call: its PROCESSING is recorded as soon as its task exists, before the task can call back.
  maxBatch: 1,
  infra: { writesResults: true },
  preflight: { headBytes: 64, check: preflight },
  deliver,
  poll: { maxBatch: A.statusBatch, firstCheckAfterMs: A.firstCheckAfterMs, run: poll },
};
