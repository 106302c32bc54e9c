/**
 * V7 Darwin (../shared/vendor-contracts.md §2), two modes per destination:
 *
 * - **Standard upload**: `register_upload` for up to 500 deliveries in one call, then per item sign → raw PUT
 *   of the object streamed from S3 to the presigned URL → confirm. Each step is checkpointed, so a retried
 *   delivery resumes where it stopped (upload.ts): it never registers an item twice nor re-sends bytes V7
 *   confirmed.
 * - **External Storage** (`options.external_storage`): `register_existing` with the object's key in the bucket
 *   V7 already reads. No byte of the object is read or sent.
 *
 * Blocked items map to their deliveries (ALREADY_EXISTS → `present`; UNKNOWN_TAGS, … → REJECTED); 401, a
 * missing team / dataset / storage and exhausted storage hold the destination; 422 → REJECTED with V7's errors;
 * other 429 and 5xx → retried honouring Retry-After. No poller: the contract has no item status (assumptions).
 */
import { errorMessage, recorded } from '#commons/errors.ts';
import { basenameOf } from '#commons/media.ts';
import type { RecordedError } from '#domain/status.ts';
import { RateLimitTimeout } from '#domain/vendor-context.ts';
import type { DeliveryJob, DeliveryOutcome, PreflightInput, VendorContext, VendorPlugin } from '../types.ts';
import { V7_ASSUMPTIONS } from './assumptions.ts';
import { V7Client } from './client.ts';
import { type Registered, registerAll, type ToRegister } from './register.ts';
import {
  externalTypeOf,
  fieldsSchema,
  type ItemSpec,
  itemOf,
  optionsSchema,
  settingsOf,
} from './settings.ts';
import { checkpointOf, finishUpload, saveStep, type UploadState } from './upload.ts';

/** Documented rules answered without a vendor call and without reading the object (headBytes 0). */
export function preflight({ object, fields, destination }: PreflightInput): RecordedError | undefined {
  const s = settingsOf(destination.options);
  if (s.external) {
    if (s.external.bucket && object.bucket !== s.external.bucket) {
      return recorded(
        'NOT_IN_EXTERNAL_STORAGE',
        `s3://${object.bucket}/${object.key} is not in bucket ${s.external.bucket}, which V7 reads as storage ${s.external.storage}`,
      );
    }
    const key = typeof fields.storage_key === 'string' ? fields.storage_key : object.key;
    if (!externalTypeOf(key) && !externalTypeOf(object.key)) {
      return recorded(
        'UNSUPPORTED_EXTENSION',
        `V7 registers images, videos, PDFs and DICOM from External Storage by extension; "${basenameOf(key)}" is none of them`,
      );
    }
    return undefined;
  }
  if (object.size === 0) return recorded('EMPTY_FILE', 'the object is empty');
  if (object.size > V7_ASSUMPTIONS.maxSinglePutBytes) {
    return recorded(
      'FILE_TOO_LARGE',
      `${object.size} bytes is over the 5 GiB a single PUT to V7's storage may carry`,
    );
  }
  return undefined;
}

interface Job {
  index: number;
  job: DeliveryJob;
  item: ItemSpec;
}

/** Runs `fn` over `items`, at most `limit` at once. */
async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

async function deliverExternal(jobs: Job[], client: V7Client): Promise<DeliveryOutcome[]> {
  const results = await registerAll(
    client,
    'external',
    jobs.map((j) => ({ item: j.item, mayExist: false })),
  );
  return results.map((r, k) => {
    if (r.kind === 'outcome') return r.outcome;
    const { item } = jobs[k] as Job;
    return {
      kind: 'accepted',
      status: 'UPLOADED',
      vendorRef: r.itemId,
      detail: {
        item_id: r.itemId,
        dataset: client.settings.dataset,
        storage: client.settings.external?.storage ?? '',
        storage_key: item.storageKey,
        path: item.path,
        name: item.name,
      },
    };
  });
}

async function deliverUploads(jobs: Job[], client: V7Client): Promise<DeliveryOutcome[]> {
  const out: DeliveryOutcome[] = new Array(jobs.length);
  const runs: Array<{ j: Job; state: UploadState }> = [];
  const fresh: Job[] = [];
  for (const j of jobs) {
    const cp = checkpointOf(j.job);
    if (cp?.itemId && cp.uploadId && cp.step !== 'registering') {
      runs.push({ j, state: { step: cp.step, itemId: cp.itemId, uploadId: cp.uploadId } });
    } else fresh.push(j);
  }

  let held: RecordedError | undefined;
  if (fresh.length > 0) {
    const entries: ToRegister[] = fresh.map((j) => ({
      item: j.item,
      mayExist: checkpointOf(j.job)?.step === 'registering',
    }));
    // Before V7 can create anything: a later attempt that meets ALREADY_EXISTS then knows it may be its own.
    await Promise.all(fresh.map((j) => saveStep(client, j.job, j.item, 'registering')));
    const results: Registered[] = await registerAll(client, 'upload', entries);
    await Promise.all(
      results.map(async (r, k) => {
        const j = fresh[k] as Job;
        if (r.kind === 'outcome') {
          out[j.index] = r.outcome;
          if (r.outcome.kind === 'hold') held ??= r.outcome.error;
          return;
        }
        const state: UploadState = { step: 'registered', itemId: r.itemId, uploadId: r.uploadId ?? '' };
        await saveStep(client, j.job, j.item, 'registered', {
          itemId: state.itemId,
          uploadId: state.uploadId,
        });
        runs.push({ j, state });
      }),
    );
  }

  await eachLimited(runs, client.settings.concurrency, async ({ j, state }) => {
    let outcome: DeliveryOutcome;
    try {
      outcome = await finishUpload({ client, job: j.job, item: j.item, state, held: () => held });
    } catch (err) {
      // One item's exception (no rate-limit token before the deadline, a bug) must not take the outcomes of the
      // others with it; its checkpoint keeps its progress.
      outcome = thrown(err, client.ctx, j.job);
    }
    if (outcome.kind === 'hold') held ??= outcome.error;
    out[j.index] = outcome;
  });
  return out;
}

function thrown(err: unknown, ctx: VendorContext, job: DeliveryJob): DeliveryOutcome {
  if (err instanceof RateLimitTimeout) {
    return {
      kind: 'retry',
      error: recorded('RATE_LIMIT_WAIT', 'no rate-limit token before the invocation deadline'),
    };
  }
  ctx.log.error('V7 upload failed with an exception', { key: job.object.key, error: errorMessage(err) });
  return { kind: 'retry', error: recorded('INTERNAL_ERROR', errorMessage(err)) };
}

export const v7Darwin: VendorPlugin = {
  id: 'v7-darwin',
  displayName: 'V7 Darwin',
  fieldsSchema,
  optionsSchema,
  maxBatch: V7_ASSUMPTIONS.maxItemsPerRegister,
  infra: {
    // Up to 100 deliveries per invocation, gathered for up to 2 s: one register call for all of them.
    batchSize: 100,
    batchingWindowSeconds: 2,
    // Uploads of large videos run in the same invocation as their register.
    timeoutSeconds: 300,
  },
  preflight: { headBytes: 0, check: preflight },
  async deliver(deliveries, ctx: VendorContext) {
    const settings = settingsOf(ctx.destination.options);
    const client = new V7Client(ctx, settings, await ctx.apiKey());
    const jobs = deliveries.map((job, index) => ({ index, job, item: itemOf(job) }));
    return settings.external ? deliverExternal(jobs, client) : deliverUploads(jobs, client);
  },
};
