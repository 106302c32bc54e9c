/**
 * The poller, every minute:
 * - follows deliveries a vendor accepted but has not finished (validation, processing tasks): reads only what
 *   is due, through the byDue index (never a scan), asks each vendor in batches, records what changed;
 * - for a paused destination whose probe is due, queues one held delivery as the probe (a probe never needs a
 *   queue message to exist); for a running destination, queues its held deliveries again;
 * - sweeps what would otherwise be stranded: a RECEIVED delivery the router could not queue, a RETRYING one
 *   whose queue message is long overdue.
 * One vendor's or one item's failure does not stall the others.
 */
import { errorMessage, recorded } from '#commons/errors.ts';
import type { Logger } from '#commons/logger.ts';
import type { DataTransmit, RelayConfig } from '#domain/config/types.ts';
import type {
  JsonObject,
  JsonValue,
  PendingDelivery,
  PollOutcome,
  VendorContext,
  VendorPlugin,
} from '#vendors/types.ts';
import { type DeliveryRecord, encodeDeliveryId, messageFor, sqsSafeJson } from './delivery.ts';
import type { DestinationState } from './forward.ts';
import {
  canTransition,
  type DeliveryStatus,
  DUE,
  isPollable,
  POLLABLE,
  type RecordedError,
} from './status.ts';

/** What one status check writes: the status, when to look next, and what the vendor said. */
export interface CheckUpdate {
  status: DeliveryStatus;
  error?: RecordedError;
  /** Not a failure, but worth telling ops (recorded as the delivery's `notice`). */
  notice?: RecordedError;
  nextCheckAt: string;
  detail?: JsonObject;
  /** The vendor's id, when the check found it (a delivery accepted without one). */
  vendorRef?: string;
}

export interface PollerPorts {
  due(destination: string, status: DeliveryStatus, limit: number, before?: string): Promise<DeliveryRecord[]>;
  applyCheck(rec: DeliveryRecord, update: CheckUpdate): Promise<boolean>;
  destinationState?(name: string): Promise<DestinationState>;
  pauseDestination?(name: string, reason: RecordedError, probeAt: string): Promise<void>;
  takeProbe?(name: string, nextProbeAt: string): Promise<boolean>;
  /** HELD or RECEIVED → QUEUED once its message is on the queue. */
  markRequeued?(rec: DeliveryRecord): Promise<boolean>;
  /** Moves the next look-in of a delivery whose message was re-sent. */
  deferCheck?(rec: DeliveryRecord, nextCheckAt: string): Promise<boolean>;
  send?(queueUrl: string, messages: Array<{ id: string; body: string }>): Promise<void>;
  /** The destinations seen configured in earlier runs, and keeping that list (see settleRemoved). */
  knownDestinations?(): Promise<string[]>;
  rememberDestination?(name: string): Promise<void>;
  forgetDestination?(name: string): Promise<void>;
}

export interface PollerDeps {
  config: RelayConfig;
  vendors: Readonly<Record<string, VendorPlugin>>;
  ports: PollerPorts;
  context(transmit: DataTransmit, plugin: VendorPlugin, signal: AbortSignal): VendorContext;
  log: Logger;
  now?: () => number;
  /** Most deliveries checked per destination and status in one run (default 1000). */
  maxPerRun?: number;
  /** vendor id → queue URL: where held and stranded deliveries are queued again. */
  queueUrls?: Readonly<Record<string, string>>;
  /** Most held deliveries queued again per destination and run (default 500): a bounded release rate. */
  releasePerRun?: number;
  /** How long past its due time a RETRYING delivery's message counts as lost (default 15 min). */
  retryGraceMs?: number;
  pauseProbeMs?: number;
}

export interface PollSummary {
  checked: number;
  changed: number;
  errors: number;
  /** Held deliveries queued again (destination running), probes sent, stranded deliveries queued. */
  released?: number;
  probes?: number;
  swept?: number;
}

/** Time until the next check: quick at first, then backing off to a ceiling. */
export function nextCheckDelayMs(pollCount: number, firstMs = 5_000, maxMs = 300_000): number {
  return Math.min(maxMs, Math.round(firstMs * 1.6 ** Math.max(0, pollCount)));
}

export function toPending(rec: DeliveryRecord): PendingDelivery {
  const acceptedAt =
    rec.history.find((h) => h.status !== 'NOTICE' && POLLABLE.includes(h.status))?.at ?? rec.updatedAt;
  const p: PendingDelivery = {
    deliveryId: encodeDeliveryId(rec),
    destination: rec.destination ?? '',
    status: rec.status,
    vendorRef: rec.vendorRef ?? '',
    object: {
      bucket: rec.bucket,
      key: rec.key,
      etag: rec.etag,
      size: rec.size,
      ...(rec.versionId ? { versionId: rec.versionId } : {}),
    },
    fields: rec.fields ?? {},
    acceptedAt,
    pollCount: rec.pollCount ?? 0,
  };
  if (rec.checkpoint) p.checkpoint = rec.checkpoint;
  return p;
}

/**
 * Checks a set of pending deliveries of one destination now, and records the results. `callbackBodies`
 * (deliveryId → body): what a callback said, handed to the plug-in as an untrusted hint (`callbackBody`).
 */
export async function checkDeliveries(
  transmit: DataTransmit,
  plugin: VendorPlugin,
  records: DeliveryRecord[],
  deps: PollerDeps,
  signal: AbortSignal,
  callbackBodies?: ReadonlyMap<string, JsonValue>,
): Promise<PollSummary> {
  const summary: PollSummary = { checked: 0, changed: 0, errors: 0 };
  const poll = plugin.poll;
  if (!poll || records.length === 0) return summary;
  const now = deps.now ?? Date.now;
  const ctx = deps.context(transmit, plugin, signal);
  for (let i = 0; i < records.length; i += poll.maxBatch) {
    if (signal.aborted) break;
    const chunk = records.slice(i, i + poll.maxBatch);
    const pending = chunk.map((rec) => {
      const p = toPending(rec);
      const body = callbackBodies?.get(p.deliveryId);
      return body === undefined ? p : { ...p, callbackBody: body };
    });
    let outcomes: Map<string, PollOutcome>;
    try {
      outcomes = await poll.run(pending, ctx);
    } catch (err) {
      deps.log.error('status check failed', {
        destination: transmit.transmit_name,
        error: errorMessage(err),
      });
      const error = recorded('STATUS_CHECK_FAILED', errorMessage(err));
      outcomes = new Map(pending.map((p) => [p.deliveryId, { kind: 'error', error } as PollOutcome]));
    }
    for (let j = 0; j < chunk.length; j++) {
      const rec = chunk[j] as DeliveryRecord;
      const p = pending[j] as PendingDelivery;
      const outcome = outcomes.get(p.deliveryId) ?? { kind: 'unchanged' };
      const later = new Date(
        now() + nextCheckDelayMs(p.pollCount + 1, plugin.poll?.firstCheckAfterMs),
      ).toISOString();
      summary.checked++;
      if (
        outcome.kind === 'status' &&
        outcome.status !== rec.status &&
        !canTransition(rec.status, outcome.status)
      ) {
        // A plug-in answering a status the model does not allow from here is a bug: record it, keep the status.
        summary.errors++;
        await deps.ports.applyCheck(rec, {
          status: rec.status,
          nextCheckAt: later,
          error: recorded(
            'INVALID_TRANSITION',
            `${plugin.id} reported ${outcome.status}, not reachable from ${rec.status}`,
          ),
        });
      } else if (outcome.kind === 'status' && outcome.status !== rec.status) {
        const ok = await deps.ports.applyCheck(rec, {
          status: outcome.status,
          nextCheckAt: POLLABLE.includes(outcome.status) ? later : new Date(now()).toISOString(),
          ...(outcome.error ? { error: outcome.error } : {}),
          ...(outcome.notice ? { notice: outcome.notice } : {}),
          ...(outcome.detail ? { detail: outcome.detail } : {}),
          ...(outcome.vendorRef ? { vendorRef: outcome.vendorRef } : {}),
        });
        if (ok) summary.changed++;
      } else if (outcome.kind === 'error') {
        summary.errors++;
        await deps.ports.applyCheck(rec, { status: rec.status, nextCheckAt: later, error: outcome.error });
      } else if (outcome.kind === 'hold') {
        // The destination itself cannot be used (its key was refused): pause it; this check comes again later.
        summary.errors++;
        const probeMs = outcome.probeAfterMs ?? probeInterval(deps);
        await deps.ports.pauseDestination?.(
          transmit.transmit_name,
          outcome.error,
          new Date(now() + probeMs).toISOString(),
        );
        await deps.ports.applyCheck(rec, {
          status: rec.status,
          nextCheckAt: new Date(now() + probeMs).toISOString(),
          error: outcome.error,
        });
      } else {
        await deps.ports.applyCheck(rec, {
          status: rec.status,
          nextCheckAt: later,
          ...(outcome.kind === 'status' && outcome.detail ? { detail: outcome.detail } : {}),
        });
      }
    }
  }
  return summary;
}

function probeInterval(deps: Pick<PollerDeps, 'pauseProbeMs' | 'config'>): number {
  return deps.pauseProbeMs ?? (deps.config.relay?.pause_probe_seconds ?? 300) * 1000;
}

/** One scheduled run: every destination — its pending checks, its held deliveries, its stranded ones. */
export async function pollDue(deps: PollerDeps, signal: AbortSignal): Promise<PollSummary> {
  const total: PollSummary = { checked: 0, changed: 0, errors: 0, released: 0, probes: 0, swept: 0 };
  const add = (s: Partial<PollSummary>) => {
    for (const k of ['checked', 'changed', 'errors', 'released', 'probes', 'swept'] as const)
      total[k] = (total[k] ?? 0) + (s[k] ?? 0);
  };
  await Promise.all(
    deps.config.data_transmit.map(async (t) => {
      const plugin = deps.vendors[t.transmit_type];
      if (!plugin) return;
      // Each step on its own: a release or sweep that fails (a queue refusing a message) must not stop the
      // destination's status checks, run after run.
      const step = async (name: string, fn: () => Promise<void>) => {
        try {
          await fn();
        } catch (err) {
          total.errors++;
          deps.log.error('poll step failed for a destination', {
            destination: t.transmit_name,
            step: name,
            error: errorMessage(err),
          });
        }
      };
      let state: DestinationState | undefined;
      await step('state', async () => {
        state = (await deps.ports.destinationState?.(t.transmit_name)) ?? { paused: false };
      });
      if (!state) return;
      const known = state;
      if (t.enabled !== false) await step('release', async () => add(await releaseOrProbe(t, known, deps)));
      await step('sweep', async () => add(await sweep(t, deps)));
      // A destination paused for its credentials cannot answer status checks either.
      if (!plugin.poll || t.enabled === false || (known.paused && !known.stoppedByOperator)) return;
      for (const status of POLLABLE) {
        if (signal.aborted) return;
        await step(`check ${status}`, async () => {
          const due = await deps.ports.due(t.transmit_name, status, deps.maxPerRun ?? 1000);
          add(await checkDeliveries(t, plugin, due, deps, signal));
        });
      }
    }),
  );
  try {
    add(await settleRemoved(deps));
  } catch (err) {
    total.errors++;
    deps.log.error('poll step failed for removed destinations', { error: errorMessage(err) });
  }
  return total;
}

/**
 * Deliveries of a destination the config no longer has: nothing would ever release its HELD ones, sweep its
 * RECEIVED and RETRYING ones or check its accepted ones. Each is settled with DESTINATION_REMOVED (REJECTED, or
 * FAILED for one the vendor had accepted and is no longer followed), and the name is forgotten once a run finds
 * none left. Names come from the runs before (one small item per destination), so a destination removed before
 * this was deployed is not found. QUEUED and SENDING ones have a message, which the forwarder settles the same way.
 */
async function settleRemoved(deps: PollerDeps): Promise<Partial<PollSummary>> {
  const { ports } = deps;
  if (!ports.knownDestinations) return {};
  const now = deps.now ?? Date.now;
  const configured = new Set(deps.config.data_transmit.map((t) => t.transmit_name));
  const known = await ports.knownDestinations();
  for (const name of configured) if (!known.includes(name)) await ports.rememberDestination?.(name);
  const limit = deps.releasePerRun ?? 500;
  const far = new Date(now() + 365 * 86_400_000).toISOString();
  let changed = 0;
  for (const name of known) {
    if (configured.has(name)) continue;
    let found = 0;
    for (const status of DUE) {
      const due = await ports.due(name, status, limit, far);
      found += due.length;
      for (const rec of due) {
        const followed = isPollable(rec.status);
        const update: CheckUpdate = {
          status: followed ? 'FAILED' : 'REJECTED',
          error: recorded(
            'DESTINATION_REMOVED',
            followed
              ? `destination ${name} is no longer in the config: the vendor had it, its status is no longer followed`
              : `destination ${name} is no longer in the config: not sent`,
          ),
          nextCheckAt: new Date(now()).toISOString(),
        };
        if (await ports.applyCheck(rec, update)) changed++;
      }
    }
    if (found === 0) {
      await ports.forgetDestination?.(name);
      deps.log.info('removed destination has no deliveries left: forgotten', { destination: name });
    } else deps.log.warn('removed destination: deliveries settled', { destination: name, found });
  }
  return { changed };
}

/** Puts recorded deliveries back on their vendor queue, then marks them QUEUED (a lost mark only duplicates). */
async function requeue(
  t: DataTransmit,
  records: DeliveryRecord[],
  deps: PollerDeps,
  options: { probe?: true; mark: boolean },
): Promise<number> {
  const queueUrl = deps.queueUrls?.[t.transmit_type];
  if (!queueUrl || !deps.ports.send || records.length === 0) return 0;
  const messages = records.flatMap((rec) => {
    const m = messageFor(rec, options.probe ? { probe: true } : {});
    return m ? [{ rec, id: rec.sk, body: sqsSafeJson(m) }] : [];
  });
  await deps.ports.send(
    queueUrl,
    messages.map(({ id, body }) => ({ id, body })),
  );
  if (options.mark) for (const { rec } of messages) await deps.ports.markRequeued?.(rec);
  return messages.length;
}

async function releaseOrProbe(
  t: DataTransmit,
  state: DestinationState,
  deps: PollerDeps,
): Promise<Partial<PollSummary>> {
  const now = deps.now ?? Date.now;
  const far = new Date(now() + 365 * 86_400_000).toISOString();
  if (!state.paused) {
    const held = await deps.ports.due(t.transmit_name, 'HELD', deps.releasePerRun ?? 500, far);
    const released = await requeue(t, held, deps, { mark: true });
    if (released > 0)
      deps.log.info('destination runs: held deliveries queued again', {
        destination: t.transmit_name,
        released,
      });
    return { released };
  }
  if (state.stoppedByOperator || !state.probeAt || Date.parse(state.probeAt) > now()) return {};
  const [first] = await deps.ports.due(t.transmit_name, 'HELD', 1, far);
  if (!first) return {};
  const nextProbe = new Date(now() + probeInterval(deps)).toISOString();
  if (!(await deps.ports.takeProbe?.(t.transmit_name, nextProbe))) return {};
  const probes = await requeue(t, [first], deps, { probe: true, mark: true });
  deps.log.info('destination paused: one held delivery queued as a probe', { destination: t.transmit_name });
  return { probes };
}

/** RECEIVED deliveries the router could not queue, and RETRYING ones whose message is long overdue. */
async function sweep(t: DataTransmit, deps: PollerDeps): Promise<Partial<PollSummary>> {
  const now = deps.now ?? Date.now;
  const limit = deps.releasePerRun ?? 500;
  const received = await deps.ports.due(t.transmit_name, 'RECEIVED', limit);
  let swept = await requeue(t, received, deps, { mark: true });
  const grace = deps.retryGraceMs ?? 15 * 60_000;
  const lost = await deps.ports.due(
    t.transmit_name,
    'RETRYING',
    limit,
    new Date(now() - grace).toISOString(),
  );
  if (lost.length > 0) {
    swept += await requeue(t, lost, deps, { mark: false });
    for (const rec of lost) await deps.ports.deferCheck?.(rec, new Date(now() + grace).toISOString());
  }
  if (swept > 0) deps.log.warn('stranded deliveries queued again', { destination: t.transmit_name, swept });
  return { swept };
}
