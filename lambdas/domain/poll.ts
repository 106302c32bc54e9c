/**
 * The poller: follows deliveries a vendor accepted but has not finished (validation, processing tasks).
 * Reads only what is due, through the byDestinationStatus index (never a scan), asks each vendor in
 * batches, and records what changed. One vendor's or one item's failure does not stall the others.
 */
import { errorMessage, recorded } from '#commons/errors.ts';
import type { Logger } from '#commons/logger.ts';
import type { DataTransmit, RelayConfig } from '#domain/config/types.ts';
import type {
  JsonObject,
  PendingDelivery,
  PollOutcome,
  VendorContext,
  VendorPlugin,
} from '#vendors/types.ts';
import { type DeliveryRecord, encodeDeliveryId } from './delivery.ts';
import { canTransition, type DeliveryStatus, POLLABLE, type RecordedError } from './status.ts';

export interface PollerPorts {
  due(destination: string, status: DeliveryStatus, limit: number): Promise<DeliveryRecord[]>;
  applyCheck(
    rec: DeliveryRecord,
    update: { status: DeliveryStatus; error?: RecordedError; nextCheckAt: string; detail?: JsonObject },
  ): Promise<boolean>;
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
}

export interface PollSummary {
  checked: number;
  changed: number;
  errors: number;
}

/** Time until the next check: quick at first, then backing off to a ceiling. */
export function nextCheckDelayMs(pollCount: number, firstMs = 5_000, maxMs = 300_000): number {
  return Math.min(maxMs, Math.round(firstMs * 1.6 ** Math.max(0, pollCount)));
}

export function toPending(rec: DeliveryRecord): PendingDelivery {
  const acceptedAt = rec.history.find((h) => POLLABLE.includes(h.status))?.at ?? rec.updatedAt;
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

/** Checks a set of pending deliveries of one destination now, and records the results. */
export async function checkDeliveries(
  transmit: DataTransmit,
  plugin: VendorPlugin,
  records: DeliveryRecord[],
  deps: PollerDeps,
  signal: AbortSignal,
): Promise<PollSummary> {
  const summary: PollSummary = { checked: 0, changed: 0, errors: 0 };
  const poll = plugin.poll;
  if (!poll || records.length === 0) return summary;
  const now = deps.now ?? Date.now;
  const ctx = deps.context(transmit, plugin, signal);
  for (let i = 0; i < records.length; i += poll.maxBatch) {
    if (signal.aborted) break;
    const chunk = records.slice(i, i + poll.maxBatch);
    const pending = chunk.map(toPending);
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
          ...(outcome.detail ? { detail: outcome.detail } : {}),
        });
        if (ok) summary.changed++;
      } else if (outcome.kind === 'error') {
        summary.errors++;
        await deps.ports.applyCheck(rec, { status: rec.status, nextCheckAt: later, error: outcome.error });
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

/** One scheduled run: every enabled destination whose vendor polls, every pollable status. */
export async function pollDue(deps: PollerDeps, signal: AbortSignal): Promise<PollSummary> {
  const total: PollSummary = { checked: 0, changed: 0, errors: 0 };
  await Promise.all(
    deps.config.data_transmit.map(async (t) => {
      const plugin = deps.vendors[t.transmit_type];
      if (!plugin?.poll || t.enabled === false) return;
      for (const status of POLLABLE) {
        if (signal.aborted) return;
        try {
          const due = await deps.ports.due(t.transmit_name, status, deps.maxPerRun ?? 1000);
          const s = await checkDeliveries(t, plugin, due, deps, signal);
          total.checked += s.checked;
          total.changed += s.changed;
          total.errors += s.errors;
        } catch (err) {
          total.errors++;
          deps.log.error('poll run failed for a destination', {
            destination: t.transmit_name,
            error: errorMessage(err),
          });
        }
      }
    }),
  );
  return total;
}
