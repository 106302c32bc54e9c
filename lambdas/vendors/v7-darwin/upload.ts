/**
 * One registered item's upload: sign → PUT (streamed from S3) → confirm, resuming at the step its checkpoint
 * says it reached. The checkpoint is written after each step that changed something at V7, so a later attempt
 * never registers the item again and never re-sends bytes V7 has confirmed:
 *
 *   registering ─register→ registered ─sign, PUT 200→ uploaded ─confirm→ confirmed
 *                               └─PUT sent in full, no answer→ put-unanswered ─confirm 200→ confirmed
 *                                                                └─confirm 4xx (not 429)→ sign, PUT again
 *
 * After `uploaded` / `put-unanswered` the next step is always confirm: the bytes may be at V7 already, and a
 * confirm costs a few hundred bytes where a second PUT costs the file.
 */
import { errorMessage, recorded } from '#commons/errors.ts';
import { parseRetryAfter } from '#domain/backoff.ts';
import type { RecordedError } from '#domain/status.ts';
import { isSuccess } from '../common.ts';
import type { DeliveryJob, DeliveryOutcome, JsonObject } from '../types.ts';
import { failure, vendorCodeOf } from './answers.ts';
import { V7_ASSUMPTIONS } from './assumptions.ts';
import { s3Code, type V7Client } from './client.ts';
import type { ItemSpec } from './settings.ts';

export type Step = 'registering' | 'registered' | 'uploaded' | 'put-unanswered' | 'confirmed';

export interface UploadState {
  step: Step;
  itemId: string;
  uploadId: string;
}

const STEPS: readonly Step[] = ['registering', 'registered', 'uploaded', 'put-unanswered', 'confirmed'];

/** The checkpoint an earlier attempt saved, when it is this plug-in's. */
export function checkpointOf(
  job: DeliveryJob,
): { step: Step; itemId?: string; uploadId?: string } | undefined {
  const cp = job.checkpoint;
  const step = cp?.step;
  if (!cp || typeof step !== 'string' || !(STEPS as readonly string[]).includes(step)) return undefined;
  return {
    step: step as Step,
    ...(typeof cp.itemId === 'string' ? { itemId: cp.itemId } : {}),
    ...(typeof cp.uploadId === 'string' ? { uploadId: cp.uploadId } : {}),
  };
}

/** Saves progress under the lease. A failed save is logged, not fatal: the upload goes on from memory. */
export async function saveStep(
  client: V7Client,
  job: DeliveryJob,
  item: ItemSpec,
  step: Step,
  extra: JsonObject = {},
): Promise<void> {
  try {
    await client.ctx.checkpoint(job.deliveryId, {
      step,
      name: item.name,
      path: item.path,
      ...extra,
    });
  } catch (err) {
    client.ctx.log.warn('could not save the V7 checkpoint: going on', {
      key: job.object.key,
      step,
      error: errorMessage(err),
    });
  }
}

export function delivered(state: UploadState, item: ItemSpec, dataset: string): DeliveryOutcome {
  return {
    kind: 'accepted',
    status: 'UPLOADED',
    vendorRef: state.itemId,
    detail: { item_id: state.itemId, upload_id: state.uploadId, dataset, path: item.path, name: item.name },
  };
}

/** Why no more PUTs are made in this attempt: the last failure, as a retry for the core's backoff. */
function giveUp(last: RecordedError | undefined, retryAfterMs?: number): DeliveryOutcome {
  const error =
    last ??
    recorded('UPLOAD_FAILED', `the PUT to V7's storage failed ${V7_ASSUMPTIONS.maxPutsPerAttempt} times`);
  return retryAfterMs === undefined ? { kind: 'retry', error } : { kind: 'retry', error, retryAfterMs };
}

export interface UploadRun {
  client: V7Client;
  job: DeliveryJob;
  item: ItemSpec;
  state: UploadState;
  /** Set when another item showed the destination cannot take anything: stop at the next step. */
  held(): RecordedError | undefined;
}

/** Runs the remaining steps of one item. */
export async function finishUpload(run: UploadRun): Promise<DeliveryOutcome> {
  const { client, job, item, state } = run;
  const dataset = client.settings.dataset;
  const ctx = client.ctx;
  let puts = 0;
  let url: string | undefined;
  let last: RecordedError | undefined;
  const uploadPath = `/items/uploads/${encodeURIComponent(state.uploadId)}`;

  for (;;) {
    if (state.step === 'confirmed') return delivered(state, item, dataset);
    const held = run.held();
    if (held) return { kind: 'hold', error: held };
    if (ctx.signal.aborted) {
      return {
        kind: 'retry',
        error: recorded(
          'INVOCATION_DEADLINE',
          `stopped at step ${state.step}: the invocation ran out of time`,
        ),
      };
    }

    if (state.step === 'uploaded' || state.step === 'put-unanswered') {
      // Bounded: every way back to `registered` below is counted by `puts`.
      const answer = await client.idempotent('POST', `${uploadPath}/confirm`, {});
      if (answer.kind === 'answer' && answer.status >= 200 && answer.status < 300) {
        state.step = 'confirmed';
        await saveStep(client, job, item, 'confirmed', { itemId: state.itemId, uploadId: state.uploadId });
        continue;
      }
      const vendorCode = answer.kind === 'answer' ? vendorCodeOf(answer.text) : undefined;
      const notReceived =
        answer.kind === 'answer' &&
        (vendorCode === V7_ASSUMPTIONS.uploadNotReceivedCode ||
          (state.step === 'put-unanswered' &&
            answer.status >= 400 &&
            answer.status < 500 &&
            answer.status !== 429));
      if (answer.kind === 'answer' && notReceived) {
        // The bytes did not arrive (the PUT whose answer was lost, most likely): sign and send them again.
        state.step = 'registered';
        url = undefined;
        last = recorded(
          'UPLOAD_NOT_RECEIVED',
          `V7 had not received the file at confirm (${answer.status}${vendorCode ? ` ${vendorCode}` : ''})`,
          { httpStatus: answer.status, ...(vendorCode ? { vendorCode } : {}) },
        );
        continue;
      }
      return failure(answer, 'confirm', ctx.now());
    }

    // state.step is 'registered' (or 'registering' with an upload id, which cannot happen): sign, then PUT.
    if (puts >= V7_ASSUMPTIONS.maxPutsPerAttempt) return giveUp(last);
    if (!url) {
      const answer = await client.idempotent('GET', `${uploadPath}/sign`);
      if (answer.kind === 'answer' && isSuccess(answer.status)) {
        const signed = (() => {
          try {
            return (JSON.parse(answer.text) as { upload_url?: unknown }).upload_url;
          } catch {
            return undefined;
          }
        })();
        if (typeof signed !== 'string' || !/^https?:\/\//.test(signed)) {
          return {
            kind: 'retry',
            error: recorded('BAD_VENDOR_RESPONSE', `V7 sign answered ${answer.status} without an upload_url`),
          };
        }
        url = signed;
      } else if (
        answer.kind === 'answer' &&
        vendorCodeOf(answer.text) === V7_ASSUMPTIONS.alreadyConfirmedCode
      ) {
        // Confirmed by an earlier send whose answer was lost.
        state.step = 'confirmed';
        await saveStep(client, job, item, 'confirmed', { itemId: state.itemId, uploadId: state.uploadId });
        continue;
      } else {
        return failure(answer, 'sign', ctx.now());
      }
    }

    puts++;
    let answer: Awaited<ReturnType<V7Client['put']>>;
    try {
      answer = await client.put(url, job);
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchVersion') {
        return {
          kind: 'rejected',
          error: recorded('OBJECT_NOT_FOUND', `s3://${job.object.bucket}/${job.object.key} no longer exists`),
        };
      }
      // Reading the object failed (S3, mid-stream): nothing whole reached V7; try again.
      last = recorded('S3_READ_FAILED', `reading the object for the PUT failed: ${errorMessage(err)}`);
      await client.pause(
        client.inlineWait({ kind: 'no-answer', error: err as Error, sentInFull: false }, puts) ?? 0,
      );
      continue;
    }
    if (answer.kind === 'no-answer') {
      last = recorded('NO_ANSWER', `the PUT to V7's storage got no answer: ${answer.error.message}`);
      if (answer.sentInFull) {
        // The bytes may be there: confirm first.
        state.step = 'put-unanswered';
        await saveStep(client, job, item, 'put-unanswered', {
          itemId: state.itemId,
          uploadId: state.uploadId,
        });
      } else {
        await client.pause(client.inlineWait(answer, puts) ?? 0);
      }
      continue;
    }
    if (answer.status >= 200 && answer.status < 300) {
      state.step = 'uploaded';
      await saveStep(client, job, item, 'uploaded', { itemId: state.itemId, uploadId: state.uploadId });
      continue;
    }
    const code = s3Code(answer.text);
    last = recorded(
      'UPLOAD_FAILED',
      `V7's storage answered the PUT ${answer.status}${code ? ` ${code}` : ''}`,
      {
        httpStatus: answer.status,
        ...(code ? { vendorCode: code } : {}),
      },
    );
    if (answer.status === 403) {
      url = undefined; // expired or refused signature: sign again
      continue;
    }
    if (answer.status >= 500 || code === 'RequestTimeout' || code === 'SlowDown') {
      const wait = client.inlineWait(answer, puts);
      if (wait === undefined) return giveUp(last, parseRetryAfter(answer.headers['retry-after'], ctx.now()));
      await client.pause(wait);
      continue;
    }
    if (code === 'EntityTooLarge') {
      return {
        kind: 'rejected',
        error: recorded('FILE_TOO_LARGE', `V7's storage refused ${job.object.size} bytes (EntityTooLarge)`, {
          httpStatus: answer.status,
          vendorCode: code,
        }),
      };
    }
    return { kind: 'rejected', error: last };
  }
}
