/**
 * The forwarder: takes delivery messages from one vendor's queue and sends them, recording every step.
 *
 * - Idempotent: a delivery is claimed with a conditional write (a lease) before anything is sent; duplicates
 *   of a settled delivery are acknowledged without a send; a lease that outlived its forwarder expires, and the
 *   send it may have made counts as ambiguous.
 * - Bad input is REJECTED with a code (pre-flight checks, vendor 4xx) and never retried.
 * - Transient failures (429, 5xx, network) come back through SQS visibility with backoff and jitter; after
 *   `max_attempts` the delivery is DEAD (or UNCONFIRMED when a send may have reached the vendor) and its
 *   message is moved to the dead-letter queue.
 * - A destination that cannot take anything (credentials refused, missing or malformed; a quota; a missing
 *   dataset; an operator's stop; `enabled: false`) is paused, and its deliveries are HELD in the status table
 *   — not in the queue, so a pause of any length strands nothing and spends no attempt. The poller sends one
 *   probe when it is due and queues the held deliveries again once the destination runs.
 */

import { chunksOf } from '#commons/chunks.ts';
import { CredentialsError, errorMessage, RelayError, recorded } from '#commons/errors.ts';
import { InvalidRequestError } from '#commons/http.ts';
import type { Logger } from '#commons/logger.ts';
import { CachingRangeReader } from '#commons/range-reader.ts';
import type { DataTransmit, RelayConfig } from '#domain/config/types.ts';
import type {
  DeliveryJob,
  DeliveryOutcome,
  JsonObject,
  RangeReader,
  VendorContext,
  VendorPlugin,
} from '#vendors/types.ts';
import { type BackoffPolicy, queueDelaySeconds, retryDelayMs } from './backoff.ts';
import {
  type DeliveryKey,
  type DeliveryMessage,
  encodeDeliveryId,
  parseDeliveryMessage,
} from './delivery.ts';
import { type DeliveryStatus, isPollable, type RecordedError } from './status.ts';
import { type ContextOptions, RateLimitTimeout } from './vendor-context.ts';

export interface QueueRecord {
  messageId: string;
  receiptHandle: string;
  body: string;
  receiveCount: number;
}

export interface ClaimedRecord {
  attempts: number;
  ambiguousSends: number;
  checkpoint?: JsonObject;
}

export type Claim =
  | { kind: 'claimed'; record: ClaimedRecord }
  | { kind: 'busy'; leaseRemainingMs: number }
  /** RETRYING, and its backoff has not ended (a duplicate message came early). */
  | { kind: 'early'; dueInMs: number }
  | { kind: 'settled'; status: DeliveryStatus }
  | { kind: 'missing' };

export interface FinishUpdate {
  status: DeliveryStatus;
  vendorRef?: string;
  error?: RecordedError;
  /** A remark that is not a failure (why ALREADY_PRESENT or SKIPPED). */
  notice?: RecordedError;
  /** When the poller should look next (pollable), the next send is due (RETRYING), or the order of release. */
  nextCheckAt?: string;
  detail?: JsonObject;
  /** This send went out in full without an answer: count it on the record. */
  ambiguous?: boolean;
  /** Give back the attempt the claim counted (the send was not the delivery's fault). */
  refund?: boolean;
}

export interface DestinationState {
  paused: boolean;
  /** When a paused destination may send one probe. */
  probeAt?: string;
  /** Set by an operator's stop: no probing, only a start resumes. */
  stoppedByOperator?: boolean;
  reason?: RecordedError;
}

export interface ForwarderPorts {
  claim(key: DeliveryKey, owner: string, leaseMs: number): Promise<Claim>;
  /** Writes the record a message stands for when none exists (the router's write was lost), in `status`. */
  adopt(
    message: DeliveryMessage,
    status: 'QUEUED' | 'REJECTED' | 'HELD',
    error?: RecordedError,
  ): Promise<boolean>;
  finish(key: DeliveryKey, owner: string, destination: string, update: FinishUpdate): Promise<boolean>;
  /**
   * Parks a delivery that waits on its destination (not claimed): HELD with the reason, no attempt spent.
   * Answers false when there is no record to park (or it is not waiting).
   */
  hold(key: DeliveryKey, destination: string, reason: RecordedError): Promise<boolean>;
  destinationState(name: string): Promise<DestinationState>;
  pauseDestination(name: string, reason: RecordedError, probeAt: string): Promise<void>;
  /** Takes the paused destination's due probe (one forwarder wins); moves the next probe to `nextProbeAt`. */
  takeProbe(name: string, nextProbeAt: string): Promise<boolean>;
  resumeDestination(name: string): Promise<void>;
  /** Makes a received message visible again after delayMs. */
  retryLater(receiptHandle: string, delayMs: number): Promise<void>;
  /** Moves a message to the dead-letter queue (the caller then acknowledges it). */
  deadLetter(body: string, reason: RecordedError): Promise<void>;
  forgetApiKey(secretName: string): void;
  /** The delivery (its pk) that already brought this content to the destination, if any. */
  contentDelivered?(destination: string, contentId: string): Promise<string | undefined>;
  rememberContent?(destination: string, contentId: string, pk: string): Promise<void>;
}

export interface ForwarderDeps {
  plugin: VendorPlugin;
  config: RelayConfig;
  ports: ForwarderPorts;
  /** Builds the vendor context for one destination, bounded by `signal`. */
  context(transmit: DataTransmit, signal: AbortSignal, options?: ContextOptions): VendorContext;
  log: Logger;
  /** Identifies this forwarder instance in leases. */
  owner: string;
  now?: () => number;
  random?: () => number;
  /** How long a paused destination waits before one probe send (default: the config's pause_probe_seconds). */
  pauseProbeMs?: number;
  /** How many groups of one batch are sent at once (default 4). */
  concurrency?: number;
  /** Told how long each vendor call (one deliver() of a group) took: the vendor latency metric. */
  vendorCallMs?(destination: string, ms: number): void;
}

export interface Invocation {
  remainingMs(): number;
}

/** SQS message ids to report as failed (they come back after their visibility timeout). */
export interface BatchResult {
  failures: string[];
}

interface Item {
  rec: QueueRecord;
  msg: DeliveryMessage;
}

const SAFETY_MS = 3_000;
/**
 * 5xx and network failures in a row, per destination, in this forwarder instance (a Lambda instance keeps it
 * between invocations). Any vendor answer that is not one of those resets it.
 */
const failureStreaks = new Map<string, number>();

/** Whether an outcome says the vendor is not working (as opposed to refusing this one file, or rate limiting). */
function isServerFailure(outcome: DeliveryOutcome): boolean {
  if (outcome.kind !== 'retry') return false;
  const { httpStatus, code } = outcome.error;
  return (httpStatus !== undefined && httpStatus >= 500) || code === 'NETWORK_ERROR' || code === 'NO_ANSWER';
}

/**
 * What identifies an object's content for `skip_duplicate_content`: its S3 ETag and size. The ETag is the MD5 of
 * the bytes for a single-part upload and of its parts' MD5s for a multipart one, so the same bytes uploaded the
 * same way (aws s3 sync's fixed part size) match; anything else only ever fails to match (sent again), never
 * matches wrongly.
 */
export function contentIdOf(object: DeliveryJob['object']): string {
  return `etag:${object.etag}:${object.size}`;
}

/**
 * A transient failure to read the destination's secret (throttling, the network): look again soon, doubling on
 * each return, and from the 4th return (5 + 10 + 20 s later) pause the destination instead.
 */
const SECRET_RETRY_MS = 5_000;
const SECRET_PAUSE_AFTER_RECEIVES = 4;
/** A message whose table or queue step failed comes back this soon (the AWS client has retried already). */
const STEP_RETRY_MS = 5_000;
/**
 * Table writes and pre-flight reads of one group in flight at once: a group of a batching vendor holds up to
 * 1000 jobs, and one after another their claims and outcomes would take longer than the vendor's request.
 */
const JOB_CONCURRENCY = 16;

export function backoffPolicy(config: RelayConfig, plugin: VendorPlugin): BackoffPolicy {
  const floorMs = plugin.rateLimit ? Math.ceil(1000 / plugin.rateLimit.perSecond) : 0;
  return {
    baseMs: (config.relay?.backoff_base_seconds ?? 2) * 1000,
    maxMs: (config.relay?.backoff_max_seconds ?? 900) * 1000,
    floorMs,
  };
}

export function probeIntervalMs(deps: Pick<ForwarderDeps, 'pauseProbeMs' | 'config'>): number {
  return deps.pauseProbeMs ?? (deps.config.relay?.pause_probe_seconds ?? 300) * 1000;
}

export async function forwardBatch(
  records: QueueRecord[],
  deps: ForwarderDeps,
  inv: Invocation,
): Promise<BatchResult> {
  const failures: string[] = [];
  const byDestination = new Map<string, Item[]>();
  const seen = new Set<string>();
  for (const rec of records) {
    const msg = parseDeliveryMessage(rec.body);
    if (!msg) {
      deps.log.error('malformed delivery message: leaving it for the dead-letter queue', {
        messageId: rec.messageId,
      });
      failures.push(rec.messageId);
      continue;
    }
    // Duplicates of one delivery in one batch (duplicate S3 events): one is enough.
    const id = `${msg.pk}\n${msg.sk}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const list = byDestination.get(msg.destination) ?? [];
    list.push({ rec, msg });
    byDestination.set(msg.destination, list);
  }
  for (const [destination, items] of byDestination) {
    try {
      failures.push(...(await forwardDestination(destination, items, deps, inv)));
    } catch (err) {
      // Only a destination-wide read (its state, its probe) gets here: each job's own steps are guarded.
      deps.log.error("could not handle a destination's messages: they come back", {
        destination,
        error: errorMessage(err),
      });
      failures.push(...items.map((i) => i.rec.messageId));
    }
  }
  return { failures: [...new Set(failures)] };
}

/**
 * Runs one message's step so that a failure (a table write, a queue call) stays that message's: it is reported
 * failed (and asked back soon, if the queue answers), and the batch's other messages go on. Without this, one
 * throw failed the whole batch, while the batch's other groups went on sending after the handler returned.
 */
async function guarded(
  item: Item,
  deps: ForwarderDeps,
  failures: string[],
  step: string,
  fn: () => Promise<void>,
): Promise<void> {
  try {
    await fn();
  } catch (err) {
    deps.log.error(`${step} failed: the message comes back`, {
      key: item.msg.object.key,
      destination: item.msg.destination,
      error: errorMessage(err),
    });
    failures.push(item.rec.messageId);
    try {
      await deps.ports.retryLater(item.rec.receiptHandle, STEP_RETRY_MS);
    } catch {
      // Its visibility timeout brings it back anyway.
    }
  }
}

async function forwardDestination(
  destination: string,
  items: Item[],
  deps: ForwarderDeps,
  inv: Invocation,
): Promise<string[]> {
  const { ports, log } = deps;
  const now = deps.now ?? Date.now;
  const failures: string[] = [];
  const transmit = deps.config.data_transmit.find((t) => t.transmit_name === destination);

  if (!transmit || transmit.transmit_type !== deps.plugin.id) {
    // The config no longer has this destination: record why and stop retrying.
    const error = recorded('DESTINATION_REMOVED', `destination ${destination} is not in the deployed config`);
    for (const item of items) {
      const { rec, msg } = item;
      await guarded(item, deps, failures, 'recording a removed destination', async () => {
        const claim = await ports.claim(msg, deps.owner, 30_000);
        if (claim.kind === 'claimed')
          await ports.finish(msg, deps.owner, destination, { status: 'REJECTED', error });
        else if (claim.kind === 'busy') failures.push(rec.messageId);
        else if (claim.kind === 'missing') {
          await ports.adopt(msg, 'REJECTED', error);
          log.warn('message for a removed destination without a record: recorded as REJECTED', {
            key: msg.object.key,
            destination,
          });
        }
      });
    }
    return failures;
  }

  // A disabled, stopped or paused destination: park its deliveries in the table (no attempt, no queue).
  if (transmit.enabled === false) {
    const why = recorded('DESTINATION_DISABLED', `destination ${destination} is disabled in the config`);
    await parkAll(items, destination, why, deps, failures);
    return failures;
  }
  const state = await ports.destinationState(destination);
  let toSend = items;
  let probe = false;
  if (state.paused) {
    const probeMs = probeIntervalMs(deps);
    const nextProbe = new Date(now() + probeMs).toISOString();
    const probeDue = !state.stoppedByOperator && now() >= (state.probeAt ? Date.parse(state.probeAt) : 0);
    const probeItem = state.stoppedByOperator
      ? undefined
      : (items.find((i) => i.msg.probe) ??
        (probeDue && (await ports.takeProbe(destination, nextProbe)) ? items[0] : undefined));
    const why = state.stoppedByOperator
      ? recorded('DESTINATION_STOPPED', `destination ${destination} was stopped by an operator`)
      : recorded(
          'DESTINATION_PAUSED',
          `destination ${destination} is paused: ${state.reason ? `${state.reason.code}: ${state.reason.message}` : 'see its state'}`,
        );
    await parkAll(
      items.filter((item) => item !== probeItem),
      destination,
      why,
      deps,
      failures,
    );
    if (!probeItem) {
      log.info('destination paused: deliveries held', { destination, count: items.length });
      return failures;
    }
    toSend = [probeItem];
    probe = true;
    log.info('destination paused: sending one probe', { destination });
  }

  // Credentials are checked before anything is claimed or built: a missing, unreadable or malformed key holds
  // the destination (CREDENTIALS_*) without spending attempts, and no request can carry a bad header.
  const signal = AbortSignal.timeout(Math.max(1_000, inv.remainingMs() - SAFETY_MS));
  const ctx = deps.context(transmit, signal, {
    plannedRequests: toSend.length,
    ...(probe ? { freshCredentials: true } : {}),
  });
  if (transmit.api_key_secret) {
    try {
      await ctx.apiKey();
    } catch (err) {
      if (err instanceof CredentialsError) {
        await pauseAndHold(destination, transmit, err.toRecorded(), toSend, deps, failures);
        return failures;
      }
      // Transient (throttling, the network): the messages come back with a backoff on their receive count. Each
      // return spends a receive, and the queue's redrive limit would move them to the dead-letter queue with their
      // records still QUEUED; so when it lasts, the destination is paused and they wait HELD, as for any key
      // that cannot be used, and its probe reads the secret again.
      const receives = Math.max(...toSend.map((i) => i.rec.receiveCount));
      if (receives >= SECRET_PAUSE_AFTER_RECEIVES) {
        const reason = recorded(
          'CREDENTIALS_UNAVAILABLE',
          `the destination's secret could not be read (${receives} tries): ${errorMessage(err)}`,
        );
        await pauseAndHold(destination, transmit, reason, toSend, deps, failures);
        return failures;
      }
      log.warn('could not read the destination secret: will try again', {
        destination,
        error: errorMessage(err),
      });
      for (const item of toSend) {
        const delay = SECRET_RETRY_MS * 2 ** Math.max(0, item.rec.receiveCount - 1);
        await guarded(item, deps, failures, 'putting a message back', () =>
          ports.retryLater(item.rec.receiptHandle, delay),
        );
        failures.push(item.rec.messageId);
      }
      return failures;
    }
  }

  const groups = groupJobs(toSend, transmit, deps.plugin);
  const concurrency = Math.max(1, deps.concurrency ?? 4);
  let next = 0;
  let heldBy: RecordedError | undefined;
  const worker = async () => {
    while (next < groups.length) {
      const group = groups[next++] as Item[];
      // Once the vendor showed the destination cannot take anything, the rest of the batch waits with it.
      if (heldBy) {
        await parkAll(group, destination, heldBy, deps, failures);
        continue;
      }
      // A group that could not finish before the invocation ends goes back to the queue unclaimed.
      const budgetMs = deps.plugin.sendBudgetMs?.(group.map((i) => jobOf(i.msg, NOT_CLAIMED))) ?? 0;
      if (budgetMs > 0 && inv.remainingMs() - SAFETY_MS < budgetMs) {
        for (const item of group) {
          await guarded(item, deps, failures, 'putting a message back', () =>
            ports.retryLater(item.rec.receiptHandle, 0),
          );
          failures.push(item.rec.messageId);
        }
        log.warn('too little time left in this invocation to send a group: released unclaimed', {
          destination,
          count: group.length,
          budgetMs,
          remainingMs: inv.remainingMs(),
        });
        continue;
      }
      try {
        const sent = await sendGroup(transmit, group, deps, inv, ctx, probe);
        failures.push(...sent.failures);
        heldBy ??= sent.heldBy;
      } catch (err) {
        // A group-wide write (a pause) failed; the jobs' own steps are guarded in sendGroup.
        log.error('a group failed: its messages come back', { destination, error: errorMessage(err) });
        failures.push(...group.map((i) => i.rec.messageId));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, groups.length) }, worker));
  return failures;
}

/** What a job looks like before it is claimed (for the plug-in's grouping and time budget). */
const NOT_CLAIMED: ClaimedRecord = { attempts: 0, ambiguousSends: 0 };

/**
 * Jobs that may share one `deliver` call: the plug-in's group key, then at most `maxBatch` jobs and
 * `maxBatchBytes` bytes each (a job larger than that goes alone).
 */
export function groupJobs<T extends { msg: DeliveryMessage }>(
  items: readonly T[],
  transmit: DataTransmit,
  plugin: Pick<VendorPlugin, 'maxBatch' | 'maxBatchBytes' | 'groupKey'>,
): T[][] {
  const size = Math.max(1, plugin.maxBatch ?? 1);
  const maxBytes = plugin.maxBatchBytes ?? Number.POSITIVE_INFINITY;
  const byKey = new Map<string, T[]>();
  for (const item of items) {
    const key = plugin.groupKey ? plugin.groupKey(jobOf(item.msg, NOT_CLAIMED), destinationOf(transmit)) : '';
    const list = byKey.get(key) ?? [];
    list.push(item);
    byKey.set(key, list);
  }
  return [...byKey.values()].flatMap((list) =>
    chunksOf(list, size, maxBytes, (item) => item.msg.object.size),
  );
}

/** Runs `fn` over `items`, at most `limit` at once. */
async function eachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function destinationOf(t: DataTransmit) {
  return {
    name: t.transmit_name,
    vendor: t.transmit_type,
    baseUrl: t.base_url,
    options: t.options ?? {},
    ...(t.api_key_secret ? { apiKeySecret: t.api_key_secret } : {}),
  };
}

function jobOf(msg: DeliveryMessage, record: ClaimedRecord): DeliveryJob {
  const job: DeliveryJob = {
    deliveryId: encodeDeliveryId(msg),
    destination: msg.destination,
    object: msg.object,
    fields: msg.fields,
    attempt: record.attempts,
    ambiguousSends: record.ambiguousSends,
  };
  if (record.checkpoint) job.checkpoint = record.checkpoint;
  return job;
}

async function pauseAndHold(
  destination: string,
  transmit: DataTransmit,
  reason: RecordedError,
  items: Item[],
  deps: ForwarderDeps,
  failures: string[],
  probeAfterMs?: number,
): Promise<void> {
  const now = deps.now ?? Date.now;
  const probeAt = new Date(now() + (probeAfterMs ?? probeIntervalMs(deps))).toISOString();
  await deps.ports.pauseDestination(destination, reason, probeAt);
  if (transmit.api_key_secret) deps.ports.forgetApiKey(transmit.api_key_secret);
  await parkAll(items, destination, reason, deps, failures);
  deps.log.error('destination paused: its deliveries are held', {
    destination,
    code: reason.code,
    probeAt,
    held: items.length,
  });
}

async function sendGroup(
  transmit: DataTransmit,
  group: Item[],
  deps: ForwarderDeps,
  inv: Invocation,
  ctx: VendorContext,
  probe: boolean,
): Promise<{ failures: string[]; heldBy?: RecordedError }> {
  const { ports, log, plugin } = deps;
  const destination = transmit.transmit_name;
  const failures: string[] = [];
  const maxAttempts = deps.config.relay?.max_attempts ?? 8;
  const policy = backoffPolicy(deps.config, plugin);

  // The lease covers the rest of this invocation: if Lambda kills us, it expires soon after.
  const leaseMs = Math.max(5_000, inv.remainingMs() + 1_000);

  // Claims and pre-flights of the group's jobs, several at once; `deliver` gets the sendable ones in order.
  const prepared: Array<(Item & { job: DeliveryJob }) | undefined> = new Array(group.length);
  await eachLimit(Array.from(group.keys()), JOB_CONCURRENCY, async (index) => {
    const item = group[index] as Item;
    await guarded(item, deps, failures, 'claiming a delivery', () => prepare(index, item));
  });
  async function prepare(index: number, item: Item): Promise<void> {
    const { rec, msg } = item;
    let claim = await ports.claim(msg, deps.owner, leaseMs);
    if (claim.kind === 'missing') {
      // The router sends first and records QUEUED after: a fast forwarder can get here in between. Record it
      // from the message, or (the router's write won the race) claim the record the router just made.
      if (await ports.adopt(msg, 'QUEUED'))
        log.warn('delivery message without a record: recorded it from the message', { key: msg.object.key });
      claim = await ports.claim(msg, deps.owner, leaseMs);
    }
    if (claim.kind === 'busy' || claim.kind === 'early') {
      const delay = claim.kind === 'busy' ? claim.leaseRemainingMs + 1_000 : claim.dueInMs;
      await ports.retryLater(rec.receiptHandle, delay);
      failures.push(rec.messageId);
      return;
    }
    if (claim.kind === 'settled') {
      log.info('duplicate message for a settled delivery: acknowledged', {
        key: msg.object.key,
        status: claim.status,
      });
      return;
    }
    if (claim.kind === 'missing') {
      log.error('delivery message without a record: leaving it for the dead-letter queue', {
        key: msg.object.key,
      });
      failures.push(rec.messageId);
      return;
    }
    const job = jobOf(msg, claim.record);
    if (transmit.skip_duplicate_content) {
      const earlier = await ports.contentDelivered?.(destination, contentIdOf(msg.object));
      if (earlier && earlier !== msg.pk) {
        await ports.finish(msg, deps.owner, destination, {
          status: 'SKIPPED',
          notice: recorded(
            'DUPLICATE_CONTENT',
            `the same content was delivered to ${destination} as ${earlier}`,
          ),
          refund: true,
        });
        log.info('duplicate content: not sent', { key: msg.object.key, destination });
        return;
      }
    }
    if (claim.record.attempts > maxAttempts) {
      const error = recorded('MAX_ATTEMPTS', `gave up after ${maxAttempts} attempts`);
      await record([{ ...exhaustedSettle(item, job, error, false, deps), item }], deps, failures);
      return;
    }
    let rejected: RecordedError | undefined;
    try {
      rejected = await preflight(job, ctx, plugin);
    } catch (err) {
      if (err instanceof SupersededError) {
        await ports.finish(msg, deps.owner, destination, {
          status: 'SKIPPED',
          notice: err.notice,
          refund: true,
        });
        log.info('object replaced since its event: skipped', { key: msg.object.key, destination });
        return;
      }
      const error = recorded('PREFLIGHT_READ_FAILED', `could not read the object: ${errorMessage(err)}`);
      await record(
        [{ ...retrySettle(item, job, { kind: 'retry', error }, deps, maxAttempts, policy), item }],
        deps,
        failures,
      );
      failures.push(rec.messageId);
      return;
    }
    if (rejected) {
      await ports.finish(msg, deps.owner, destination, { status: 'REJECTED', error: rejected });
      log.warn('rejected before sending', { key: msg.object.key, destination, code: rejected.code });
      return;
    }
    prepared[index] = { ...item, job };
  }
  const jobs = prepared.filter((j): j is Item & { job: DeliveryJob } => j !== undefined);
  if (jobs.length === 0) return { failures };

  let heldBy: RecordedError | undefined;
  let outcomes: DeliveryOutcome[];
  const called = (deps.now ?? Date.now)();
  try {
    outcomes = await plugin.deliver(
      jobs.map((j) => j.job),
      ctx,
    );
    deps.vendorCallMs?.(destination, (deps.now ?? Date.now)() - called);
    if (outcomes.length !== jobs.length)
      throw new Error(`plugin answered ${outcomes.length} outcomes for ${jobs.length} jobs`);
  } catch (err) {
    outcomes = jobs.map(() => outcomeOfThrown(err, deps.log, destination));
  }

  // The vendor showed the destination cannot take anything: pause it once, and every job it held waits.
  const hold = outcomes.find((o) => o.kind === 'hold');
  if (hold) {
    await pauseAndHold(destination, transmit, hold.error, [], deps, failures, hold.probeAfterMs);
    heldBy = hold.error;
  }
  const settles = jobs.map((item, i) => {
    const outcome = outcomes[i] as DeliveryOutcome;
    if (outcome.kind === 'retry' && !probe) failures.push(item.rec.messageId);
    return { ...settleFor(item, item.job, outcome, deps, maxAttempts, policy, probe), item };
  });
  await record(settles, deps, failures);
  if (transmit.skip_duplicate_content) {
    await eachLimit(Array.from(jobs.keys()), JOB_CONCURRENCY, async (i) => {
      const outcome = outcomes[i] as DeliveryOutcome;
      const { msg } = jobs[i] as Item;
      if (outcome.kind !== 'accepted' && outcome.kind !== 'present') return;
      try {
        await ports.rememberContent?.(destination, contentIdOf(msg.object), msg.pk);
      } catch (err) {
        // The delivery is recorded; only a later copy of this content may be sent again.
        log.warn('could not remember delivered content', { key: msg.object.key, error: errorMessage(err) });
      }
    });
  }
  // An outage: many 5xx / network failures in a row. Pause the destination instead of spending every delivery's
  // attempts against a vendor that is down; the probe finds out when it is back.
  const threshold = deps.config.relay?.outage_threshold ?? 10;
  let streak = failureStreaks.get(destination) ?? 0;
  // A failed request counts once however many files it carried: a plug-in gives the files of one request one
  // outcome object (an Edge Impulse batch, a V7 register), so one 503 to a batch is not an outage of itself.
  const counted = new Set<DeliveryOutcome>();
  for (const o of outcomes) {
    if (isServerFailure(o)) {
      if (!counted.has(o)) streak++;
      counted.add(o);
    } else if (o.kind !== 'retry') streak = 0;
  }
  failureStreaks.set(destination, streak);
  if (threshold > 0 && streak >= threshold && !heldBy) {
    failureStreaks.set(destination, 0);
    heldBy = recorded(
      'VENDOR_OUTAGE',
      `${streak} failures in a row (5xx or no answer): the vendor looks down`,
    );
    await pauseAndHold(destination, transmit, heldBy, [], deps, failures);
  }
  // A probe that got any vendor answer but a hold or a retry shows the destination works again.
  if (probe && outcomes.some((o) => o.kind === 'accepted' || o.kind === 'present' || o.kind === 'rejected')) {
    await ports.resumeDestination(destination);
    log.info('probe answered: destination resumed', { destination });
  }
  return heldBy ? { failures, heldBy } : { failures };
}

/** An exception out of a plug-in: a bug or the deadline, never the vendor's answer. */
function outcomeOfThrown(err: unknown, log: Logger, destination: string): DeliveryOutcome {
  if (err instanceof RateLimitTimeout)
    return {
      kind: 'retry',
      error: recorded('RATE_LIMIT_WAIT', 'no rate-limit token before the invocation deadline'),
    };
  if (err instanceof CredentialsError) return { kind: 'hold', error: err.toRecorded() };
  if (err instanceof InvalidRequestError)
    return {
      kind: 'rejected',
      error: recorded('INVALID_REQUEST', `the request could not be built: ${err.message}`),
    };
  if (err instanceof RelayError) return { kind: 'retry', error: err.toRecorded() };
  log.error('vendor plug-in failed', { destination, error: errorMessage(err) });
  return { kind: 'retry', error: recorded('INTERNAL_ERROR', errorMessage(err)) };
}

/** An outcome to record: the write, then what follows it (the message's fate), then its log line. */
interface Settle {
  msg: DeliveryMessage;
  update: FinishUpdate;
  after?: () => Promise<void>;
  note: () => void;
}

/** What a vendor's outcome for one job writes and does. */
function settleFor(
  item: Item,
  job: DeliveryJob,
  outcome: DeliveryOutcome,
  deps: ForwarderDeps,
  maxAttempts: number,
  policy: BackoffPolicy,
  probe = false,
): Settle {
  const { msg } = item;
  const { log, plugin } = deps;
  const now = deps.now ?? Date.now;
  const destination = msg.destination;
  const where = { key: msg.object.key, destination };
  switch (outcome.kind) {
    case 'accepted': {
      const pollable = isPollable(outcome.status);
      const firstCheck = plugin.poll?.firstCheckAfterMs ?? 0;
      return {
        msg,
        update: {
          status: outcome.status,
          ...(outcome.vendorRef ? { vendorRef: outcome.vendorRef } : {}),
          ...(outcome.detail ? { detail: outcome.detail } : {}),
          ...(pollable ? { nextCheckAt: new Date(now() + firstCheck).toISOString() } : {}),
        },
        note: () => log.info('delivered', { ...where, status: outcome.status, vendorRef: outcome.vendorRef }),
      };
    }
    case 'present': {
      // A duplicate answer to a retry whose earlier send went unanswered: that earlier send got there.
      const ours = job.ambiguousSends > 0;
      return {
        msg,
        update: {
          status: ours ? 'UPLOADED' : 'ALREADY_PRESENT',
          notice: ours
            ? recorded('DELIVERED_EARLIER', `an earlier send reached the vendor: ${outcome.error.message}`, {
                ...(outcome.error.vendorCode ? { vendorCode: outcome.error.vendorCode } : {}),
              })
            : outcome.error,
          ...(outcome.vendorRef ? { vendorRef: outcome.vendorRef } : {}),
          ...(outcome.detail ? { detail: outcome.detail } : {}),
        },
        note: () =>
          log.info(ours ? 'delivered (by an earlier send)' : 'the vendor already has this content', {
            ...where,
            code: outcome.error.code,
          }),
      };
    }
    case 'rejected':
      return {
        msg,
        update: { status: 'REJECTED', error: outcome.error },
        note: () => log.warn('vendor rejected the delivery', { ...where, code: outcome.error.code }),
      };
    case 'hold':
      return {
        msg,
        update: { ...heldUpdate(outcome.error), nextCheckAt: new Date(now()).toISOString() },
        note: () => undefined,
      };
    case 'retry':
      if (probe) {
        // A probe that got no verdict: the destination stays paused, this delivery waits with the others (its
        // message is not put back, or it would probe again on every return), and its attempt is given back: it
        // was sent because the destination needed a probe, not for its own sake.
        return {
          msg,
          update: { ...heldUpdate(outcome.error), ...(outcome.ambiguous ? { ambiguous: true } : {}) },
          note: () =>
            log.info('probe got no verdict: destination stays paused', {
              ...where,
              code: outcome.error.code,
            }),
        };
      }
      return retrySettle(item, job, outcome, deps, maxAttempts, policy);
  }
}

/**
 * Writes the outcomes, each its own conditional write (a few in flight at once: a batching vendor's group may
 * hold hundreds), then does what follows each. Not a transaction: DynamoDB bills a transactional write twice.
 */
async function record(
  settles: ReadonlyArray<Settle & { item: Item }>,
  deps: ForwarderDeps,
  failures: string[],
): Promise<void> {
  const { ports } = deps;
  const written = new Set<Settle>();
  await eachLimit(settles, JOB_CONCURRENCY, async (x) => {
    await guarded(x.item, deps, failures, 'recording an outcome', async () => {
      await ports.finish(x.msg, deps.owner, x.msg.destination, x.update);
      written.add(x);
    });
  });
  await eachLimit(
    settles.filter((x) => written.has(x)),
    JOB_CONCURRENCY,
    async (x) => {
      await guarded(x.item, deps, failures, 'handing back a message', async () => {
        await x.after?.();
        x.note();
      });
    },
  );
}

/** A transient failure: RETRYING with backoff, or out of attempts (see exhaustedSettle). */
function retrySettle(
  item: Item,
  job: DeliveryJob,
  outcome: Extract<DeliveryOutcome, { kind: 'retry' }>,
  deps: ForwarderDeps,
  maxAttempts: number,
  policy: BackoffPolicy,
): Settle {
  const { rec, msg } = item;
  const now = deps.now ?? Date.now;
  // Waiting for a rate-limit token is not the delivery's failure: it spends no attempt.
  const refund = outcome.error.code === 'RATE_LIMIT_WAIT';
  if (!refund && job.attempt >= maxAttempts) {
    return exhaustedSettle(item, job, outcome.error, outcome.ambiguous === true, deps);
  }
  // What the queue will really wait (whole seconds, at most its visibility limit): the record says the same.
  const delay =
    queueDelaySeconds(retryDelayMs(job.attempt, policy, outcome.retryAfterMs, deps.random)) * 1000;
  return {
    msg,
    update: {
      status: 'RETRYING',
      error: outcome.error,
      nextCheckAt: new Date(now() + delay).toISOString(),
      ...(outcome.ambiguous ? { ambiguous: true } : {}),
      ...(refund ? { refund: true } : {}),
    },
    after: () => deps.ports.retryLater(rec.receiptHandle, delay),
    note: () =>
      deps.log.warn('will retry', {
        key: msg.object.key,
        destination: msg.destination,
        attempt: job.attempt,
        delayMs: delay,
        code: outcome.error.code,
      }),
  };
}

/** Out of attempts: DEAD, or UNCONFIRMED when a send may have reached the vendor; the message goes to the DLQ. */
function exhaustedSettle(
  item: Item,
  job: DeliveryJob,
  error: RecordedError,
  ambiguousNow: boolean,
  deps: ForwarderDeps,
): Settle {
  const { rec, msg } = item;
  const unconfirmed = ambiguousNow || job.ambiguousSends > 0;
  const status: DeliveryStatus = unconfirmed ? 'UNCONFIRMED' : 'DEAD';
  return {
    msg,
    update: { status, error, ...(ambiguousNow ? { ambiguous: true } : {}) },
    after: () => deps.ports.deadLetter(rec.body, error),
    note: () =>
      deps.log.error(`delivery is ${status}: moved to the dead-letter queue`, {
        key: msg.object.key,
        destination: msg.destination,
        code: error.code,
      }),
  };
}

/**
 * A RangeReader over the object: serves what the head already holds, then a few bounded ranged reads
 * (CachingRangeReader: at most 16, doubling windows), never the whole file.
 */
export function objectReader(job: DeliveryJob, ctx: VendorContext, head: Buffer): RangeReader {
  return new CachingRangeReader(
    { size: job.object.size, read: (start, end) => ctx.objects.range(job.object, start, end) },
    { head },
  );
}

async function preflight(
  job: DeliveryJob,
  ctx: VendorContext,
  plugin: VendorPlugin,
): Promise<RecordedError | undefined> {
  if (!plugin.preflight) return undefined;
  let head: Buffer;
  try {
    const bytes = Math.min(plugin.preflight.headBytes, job.object.size);
    head = bytes > 0 ? await ctx.objects.range(job.object, 0, bytes) : Buffer.alloc(0);
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchVersion') {
      return recorded('OBJECT_NOT_FOUND', `s3://${job.object.bucket}/${job.object.key} no longer exists`);
    }
    if (name === 'PreconditionFailed') throw new SupersededError(job);
    throw err;
  }
  return plugin.preflight.check({
    object: job.object,
    head,
    reader: objectReader(job, ctx, head),
    fields: job.fields,
    destination: ctx.destination,
  });
}

/**
 * An unversioned bucket's key was uploaded again after this delivery's event (the read's If-Match failed): its
 * bytes are gone, the newer upload has its own delivery, and this one is SKIPPED with a notice, not a failure.
 */
class SupersededError extends Error {
  readonly notice: RecordedError;
  constructor(job: DeliveryJob) {
    super('object superseded');
    this.notice = recorded(
      'OBJECT_SUPERSEDED',
      `s3://${job.object.bucket}/${job.object.key} was replaced since this delivery's event (ETag ${job.object.etag}); the newer upload is delivered on its own`,
    );
  }
}

/** A delivery parked with its destination: no attempt spent. */
function heldUpdate(error: RecordedError) {
  return { status: 'HELD' as const, error, refund: true };
}

/**
 * Parks a message's delivery with its destination. The router sends first and records QUEUED after, so the
 * record may not exist yet: it is written HELD from the message (or, if the router's write lands first, that
 * record is parked). Either way the message can be acknowledged: the poller releases HELD deliveries.
 */
async function park(
  item: Item,
  destination: string,
  reason: RecordedError,
  deps: ForwarderDeps,
): Promise<boolean> {
  const { ports } = deps;
  const { msg, rec } = item;
  if (await ports.hold(msg, destination, reason)) return true;
  if (await ports.adopt(msg, 'HELD', reason)) return true;
  if (await ports.hold(msg, destination, reason)) return true;
  // Not waiting: settled (a duplicate message: nothing to do), or SENDING. A SENDING record whose lease expired
  // was left by a forwarder killed mid-send, and this message is all that can move it on: claim it (the send
  // that may have gone out counts as ambiguous) and park it. One with a live lease is another forwarder's to
  // finish; this message comes back after that lease, in case that forwarder dies too.
  const claim = await ports.claim(msg, deps.owner, 30_000);
  if (claim.kind === 'claimed') {
    await ports.finish(msg, deps.owner, destination, heldUpdate(reason));
    return true;
  }
  if (claim.kind === 'busy') {
    await ports.retryLater(rec.receiptHandle, claim.leaseRemainingMs + 1_000);
    return false;
  }
  return true;
}

/** Parks each item; a message that must come back (or whose writes failed) is added to `failures`. */
async function parkAll(
  items: readonly Item[],
  destination: string,
  reason: RecordedError,
  deps: ForwarderDeps,
  failures: string[],
): Promise<void> {
  for (const item of items) {
    await guarded(item, deps, failures, 'holding a delivery', async () => {
      if (!(await park(item, destination, reason, deps))) failures.push(item.rec.messageId);
    });
  }
}
