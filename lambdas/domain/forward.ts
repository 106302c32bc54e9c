/**
 * The forwarder: takes delivery messages from one vendor's queue and sends them, recording every step.
 *
 * - Idempotent: a delivery is claimed with a conditional write (a lease) before anything is sent; duplicates
 *   of a settled delivery are acknowledged without a send; a lease that outlived its forwarder expires.
 * - Bad input is REJECTED with a code (pre-flight checks, vendor 4xx) and never retried.
 * - Transient failures (429, 5xx, network) come back through SQS visibility with backoff and jitter; after
 *   `max_attempts` the delivery is DEAD and its message is moved to the dead-letter queue.
 * - A refused API key (401) pauses the whole destination instead of burning through its queue; a probe
 *   after `pauseProbeMs` sees whether a rotated key works again.
 */
import { errorMessage, recorded } from '#commons/errors.ts';
import type { Logger } from '#commons/logger.ts';
import type { DataTransmit, RelayConfig } from '#domain/config/types.ts';
import type { DeliveryJob, DeliveryOutcome, VendorContext, VendorPlugin } from '#vendors/types.ts';
import { type BackoffPolicy, retryDelayMs } from './backoff.ts';
import {
  type DeliveryKey,
  type DeliveryMessage,
  encodeDeliveryId,
  parseDeliveryMessage,
} from './delivery.ts';
import type { DeliveryStatus, RecordedError } from './status.ts';
import { RateLimitTimeout } from './vendor-context.ts';

export interface QueueRecord {
  messageId: string;
  receiptHandle: string;
  body: string;
  receiveCount: number;
}

export interface ClaimedRecord {
  attempts: number;
  checkpoint?: Record<string, unknown>;
}

export type Claim =
  | { kind: 'claimed'; record: ClaimedRecord }
  | { kind: 'busy'; leaseRemainingMs: number }
  | { kind: 'settled'; status: DeliveryStatus }
  | { kind: 'missing' };

export interface ForwarderPorts {
  claim(key: DeliveryKey, owner: string, leaseMs: number): Promise<Claim>;
  finish(
    key: DeliveryKey,
    owner: string,
    destination: string,
    update: { status: DeliveryStatus; vendorRef?: string; error?: RecordedError; nextCheckAt?: string },
  ): Promise<boolean>;
  refundAttempt(key: DeliveryKey): Promise<void>;
  /** Records why a delivery waits on its destination, without claiming it. */
  hold(key: DeliveryKey, destination: string, reason: RecordedError, nextCheckAt: string): Promise<void>;
  destinationState(name: string): Promise<{ paused: boolean; probeAt?: string; stoppedByOperator?: boolean }>;
  pauseDestination(name: string, reason: RecordedError, probeAt: string): Promise<void>;
  resumeDestination(name: string): Promise<void>;
  /** Makes a received message visible again after delayMs. */
  retryLater(receiptHandle: string, delayMs: number): Promise<void>;
  /** Moves a message to the dead-letter queue (the caller then acknowledges it). */
  deadLetter(body: string, reason: RecordedError): Promise<void>;
  forgetApiKey(secretName: string): void;
}

export interface ForwarderDeps {
  plugin: VendorPlugin;
  config: RelayConfig;
  ports: ForwarderPorts;
  /** Builds the vendor context for one destination, bounded by `signal`. */
  context(transmit: DataTransmit, signal: AbortSignal): VendorContext;
  log: Logger;
  /** Identifies this forwarder instance in leases. */
  owner: string;
  now?: () => number;
  random?: () => number;
  /** How long a paused destination waits before one probe send (default: the config's pause_probe_seconds). */
  pauseProbeMs?: number;
  /** How many jobs of one batch are sent at once (default 4). */
  concurrency?: number;
}

export interface Invocation {
  remainingMs(): number;
}

/** SQS message ids to report as failed (they come back after their visibility timeout). */
export interface BatchResult {
  failures: string[];
}

const SAFETY_MS = 3_000;

export function backoffPolicy(config: RelayConfig, plugin: VendorPlugin): BackoffPolicy {
  const floorMs = plugin.rateLimit ? Math.ceil(1000 / plugin.rateLimit.perSecond) : 0;
  return {
    baseMs: (config.relay?.backoff_base_seconds ?? 2) * 1000,
    maxMs: (config.relay?.backoff_max_seconds ?? 900) * 1000,
    floorMs,
  };
}

export async function forwardBatch(
  records: QueueRecord[],
  deps: ForwarderDeps,
  inv: Invocation,
): Promise<BatchResult> {
  const failures: string[] = [];
  const byDestination = new Map<string, Array<{ rec: QueueRecord; msg: DeliveryMessage }>>();
  for (const rec of records) {
    const msg = parseDeliveryMessage(rec.body);
    if (!msg) {
      deps.log.error('malformed delivery message: leaving it for the dead-letter queue', {
        messageId: rec.messageId,
      });
      failures.push(rec.messageId);
      continue;
    }
    const list = byDestination.get(msg.destination) ?? [];
    list.push({ rec, msg });
    byDestination.set(msg.destination, list);
  }
  for (const [destination, items] of byDestination) {
    failures.push(...(await forwardDestination(destination, items, deps, inv)));
  }
  return { failures };
}

async function forwardDestination(
  destination: string,
  items: Array<{ rec: QueueRecord; msg: DeliveryMessage }>,
  deps: ForwarderDeps,
  inv: Invocation,
): Promise<string[]> {
  const { ports, log } = deps;
  const now = deps.now ?? Date.now;
  const failures: string[] = [];
  const transmit = deps.config.data_transmit.find((t) => t.transmit_name === destination);

  if (!transmit || transmit.transmit_type !== deps.plugin.id) {
    // The config no longer has this destination: record why and stop retrying.
    for (const { rec, msg } of items) {
      const claim = await ports.claim(msg, deps.owner, 30_000);
      if (claim.kind === 'claimed') {
        await ports.finish(msg, deps.owner, destination, {
          status: 'REJECTED',
          error: recorded('DESTINATION_REMOVED', `destination ${destination} is not in the deployed config`),
        });
      }
      if (claim.kind === 'busy') failures.push(rec.messageId);
      if (claim.kind === 'missing')
        log.error('delivery message without a record, dropped', { key: msg.object.key });
    }
    return failures;
  }

  // A stopped or paused destination: put its messages back without counting an attempt.
  let items2 = items;
  if (transmit.enabled === false) {
    const reason = recorded('DESTINATION_DISABLED', `destination ${destination} is disabled in the config`);
    for (const { rec, msg } of items) {
      await ports.hold(msg, destination, reason, new Date(now() + 300_000).toISOString());
      await ports.retryLater(rec.receiptHandle, 300_000);
      failures.push(rec.messageId);
    }
    return failures;
  }
  const state = await ports.destinationState(destination);
  if (state.paused) {
    const probeAt = state.probeAt ? Date.parse(state.probeAt) : Number.POSITIVE_INFINITY;
    const probeDue = !state.stoppedByOperator && now() >= probeAt;
    const holdMs = state.stoppedByOperator ? 300_000 : Math.max(1_000, Math.min(900_000, probeAt - now()));
    const held = probeDue ? items.slice(1) : items;
    const why = state.stoppedByOperator
      ? recorded('DESTINATION_STOPPED', `destination ${destination} was stopped by an operator`)
      : recorded('DESTINATION_PAUSED', `destination ${destination} is paused: its credentials were refused`);
    const probeMs = deps.pauseProbeMs ?? (deps.config.relay?.pause_probe_seconds ?? 300) * 1000;
    for (const { rec, msg } of held) {
      // While a probe is out, the others look again soon; otherwise they wait for the probe time.
      const delay = probeDue ? Math.min(30_000, probeMs) : holdMs;
      await ports.hold(msg, destination, why, new Date(now() + delay).toISOString());
      await ports.retryLater(rec.receiptHandle, delay);
      failures.push(rec.messageId);
    }
    if (!probeDue) {
      log.info('destination paused: messages held', { destination, count: items.length });
      return failures;
    }
    items2 = items.slice(0, 1);
    log.info('destination paused: sending one probe', { destination });
  }

  const concurrency = Math.max(1, deps.concurrency ?? 4);
  const batchSize = Math.max(1, deps.plugin.maxBatch ?? 1);
  const groups: Array<Array<{ rec: QueueRecord; msg: DeliveryMessage }>> = [];
  for (let i = 0; i < items2.length; i += batchSize) groups.push(items2.slice(i, i + batchSize));
  let next = 0;
  const worker = async () => {
    while (next < groups.length) {
      const group = groups[next++] as Array<{ rec: QueueRecord; msg: DeliveryMessage }>;
      failures.push(...(await sendGroup(transmit, group, deps, inv, state.paused)));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, groups.length) }, worker));
  return failures;
}

async function sendGroup(
  transmit: DataTransmit,
  group: Array<{ rec: QueueRecord; msg: DeliveryMessage }>,
  deps: ForwarderDeps,
  inv: Invocation,
  wasPaused: boolean,
): Promise<string[]> {
  const { ports, log, plugin } = deps;
  const now = deps.now ?? Date.now;
  const destination = transmit.transmit_name;
  const failures: string[] = [];
  const maxAttempts = deps.config.relay?.max_attempts ?? 8;
  const policy = backoffPolicy(deps.config, plugin);

  // The lease covers the rest of this invocation: if Lambda kills us, it expires soon after.
  const leaseMs = Math.max(5_000, inv.remainingMs() + 1_000);
  const signal = AbortSignal.timeout(Math.max(1_000, inv.remainingMs() - SAFETY_MS));
  const ctx = deps.context(transmit, signal);

  const jobs: Array<{ rec: QueueRecord; msg: DeliveryMessage; job: DeliveryJob }> = [];
  for (const { rec, msg } of group) {
    const claim = await ports.claim(msg, deps.owner, leaseMs);
    if (claim.kind === 'busy') {
      await ports.retryLater(rec.receiptHandle, claim.leaseRemainingMs + 1_000);
      failures.push(rec.messageId);
      continue;
    }
    if (claim.kind === 'settled') {
      log.info('duplicate message for a settled delivery: acknowledged', {
        key: msg.object.key,
        status: claim.status,
      });
      continue;
    }
    if (claim.kind === 'missing') {
      log.error('delivery message without a record: leaving it for the dead-letter queue', {
        key: msg.object.key,
      });
      failures.push(rec.messageId);
      continue;
    }
    const job: DeliveryJob = {
      deliveryId: encodeDeliveryId(msg),
      destination,
      object: msg.object,
      fields: msg.fields,
      attempt: claim.record.attempts,
    };
    if (claim.record.checkpoint) job.checkpoint = claim.record.checkpoint as DeliveryJob['checkpoint'];
    if (claim.record.attempts > maxAttempts) {
      await settleDead(rec, msg, recorded('MAX_ATTEMPTS', `gave up after ${maxAttempts} attempts`), deps);
      continue;
    }
    const rejected = await preflight(job, ctx, plugin);
    if (rejected) {
      await ports.finish(msg, deps.owner, destination, { status: 'REJECTED', error: rejected });
      log.warn('rejected before sending', { key: msg.object.key, destination, code: rejected.code });
      continue;
    }
    jobs.push({ rec, msg, job });
  }
  if (jobs.length === 0) return failures;

  let outcomes: DeliveryOutcome[];
  try {
    outcomes = await plugin.deliver(
      jobs.map((j) => j.job),
      ctx,
    );
    if (outcomes.length !== jobs.length)
      throw new Error(`plugin answered ${outcomes.length} outcomes for ${jobs.length} jobs`);
  } catch (err) {
    const refund = err instanceof RateLimitTimeout;
    const error = refund
      ? recorded('RATE_LIMIT_WAIT', 'no rate-limit token before the invocation deadline')
      : recorded('INTERNAL_ERROR', errorMessage(err));
    if (!refund) log.error('vendor plug-in failed', { destination, error: errorMessage(err) });
    outcomes = jobs.map(() => ({ kind: 'retry', error }));
    if (refund) for (const j of jobs) await ports.refundAttempt(j.msg);
  }

  for (let i = 0; i < jobs.length; i++) {
    const { rec, msg, job } = jobs[i] as { rec: QueueRecord; msg: DeliveryMessage; job: DeliveryJob };
    const outcome = outcomes[i] as DeliveryOutcome;
    const key: DeliveryKey = msg;
    switch (outcome.kind) {
      case 'accepted': {
        const pollable = outcome.status !== 'UPLOADED' && outcome.status !== 'COMPLETED';
        const firstCheck = plugin.poll?.firstCheckAfterMs ?? 0;
        await ports.finish(key, deps.owner, destination, {
          status: outcome.status,
          ...(outcome.vendorRef ? { vendorRef: outcome.vendorRef } : {}),
          ...(pollable ? { nextCheckAt: new Date(now() + firstCheck).toISOString() } : {}),
        });
        if (wasPaused) {
          await ports.resumeDestination(destination);
          log.info('probe succeeded: destination resumed', { destination });
        }
        log.info('delivered', {
          key: msg.object.key,
          destination,
          status: outcome.status,
          vendorRef: outcome.vendorRef,
        });
        break;
      }
      case 'rejected':
        await ports.finish(key, deps.owner, destination, { status: 'REJECTED', error: outcome.error });
        log.warn('vendor rejected the delivery', {
          key: msg.object.key,
          destination,
          code: outcome.error.code,
        });
        break;
      case 'unauthorized': {
        const probeMs = deps.pauseProbeMs ?? (deps.config.relay?.pause_probe_seconds ?? 300) * 1000;
        await ports.pauseDestination(destination, outcome.error, new Date(now() + probeMs).toISOString());
        if (transmit.api_key_secret) ports.forgetApiKey(transmit.api_key_secret);
        await ports.refundAttempt(key);
        await ports.finish(key, deps.owner, destination, {
          status: 'RETRYING',
          error: outcome.error,
          nextCheckAt: new Date(now() + probeMs).toISOString(),
        });
        await ports.retryLater(rec.receiptHandle, probeMs);
        failures.push(rec.messageId);
        log.error('destination credentials refused: destination paused', { destination, probeInMs: probeMs });
        break;
      }
      case 'retry': {
        if (job.attempt >= maxAttempts) {
          await settleDead(rec, msg, outcome.error, deps);
          break;
        }
        const delay = retryDelayMs(job.attempt, policy, outcome.retryAfterMs, deps.random);
        await ports.finish(key, deps.owner, destination, {
          status: 'RETRYING',
          error: outcome.error,
          nextCheckAt: new Date(now() + delay).toISOString(),
        });
        await ports.retryLater(rec.receiptHandle, delay);
        failures.push(rec.messageId);
        log.warn('will retry', {
          key: msg.object.key,
          destination,
          attempt: job.attempt,
          delayMs: delay,
          code: outcome.error.code,
        });
        break;
      }
    }
  }
  return failures;
}

async function preflight(
  job: DeliveryJob,
  ctx: VendorContext,
  plugin: VendorPlugin,
): Promise<RecordedError | undefined> {
  if (!plugin.preflight) return undefined;
  let head: Buffer;
  try {
    head = await ctx.objects.head(job.object, plugin.preflight.headBytes);
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchVersion') {
      return recorded('OBJECT_NOT_FOUND', `s3://${job.object.bucket}/${job.object.key} no longer exists`);
    }
    throw err;
  }
  return plugin.preflight.check({
    object: job.object,
    head,
    fields: job.fields,
    destination: ctx.destination,
  });
}

async function settleDead(
  rec: QueueRecord,
  msg: DeliveryMessage,
  error: RecordedError,
  deps: ForwarderDeps,
): Promise<void> {
  await deps.ports.finish(msg, deps.owner, msg.destination, { status: 'DEAD', error });
  await deps.ports.deadLetter(rec.body, error);
  deps.log.error('delivery is DEAD: moved to the dead-letter queue', {
    key: msg.object.key,
    destination: msg.destination,
    code: error.code,
  });
}
