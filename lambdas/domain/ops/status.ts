/**
 * GET /v1/status (docs/ops-api.md): per destination its state, counts by status, last success and last error,
 * DLQ depth, the oldest wait and outcomes per minute over the last hour; and the unrouted keys. Everything comes
 * from the aggregator's counters, the destination state items, one Limit-1 index query per due status and SQS
 * queue attributes: the same few reads with ten records or a hundred million. Pure: the reads are ports.
 */
import type { RelayConfig } from '../config/types.ts';
import type { DeliveryStatus, RecordedError } from '../status.ts';
import {
  type CountersPort,
  type DestinationCounters,
  type ErrorAt,
  UNROUTED_TARGET,
  type WhereWhen,
} from './aggregate.ts';

export type DestinationRunState = 'running' | 'paused' | 'stopped' | 'disabled';

export interface DestinationStateView {
  paused: boolean;
  stoppedByOperator?: boolean;
  reason?: RecordedError;
  pausedAt?: string;
  updatedAt?: string;
}

export interface StatusDeps {
  config: RelayConfig;
  counters: CountersPort;
  destinationState(name: string): Promise<DestinationStateView>;
  /** Messages in a vendor's dead-letter queue (SQS ApproximateNumberOfMessages), undefined when unknown. */
  dlqDepth(vendor: string): Promise<number | undefined>;
  now(): number;
}

export interface DestinationStatus {
  name: string;
  vendor: string;
  state: DestinationRunState;
  stateReason?: { code: string; message: string; since?: string };
  counts: Partial<Record<DeliveryStatus, number>>;
  lastSuccess?: WhereWhen;
  lastError?: ErrorAt;
  /** The vendor's DLQ: destinations of one vendor share it. */
  dlqDepth: number;
  /** Seconds since the earliest due time of a delivery still waiting on someone; null when none waits. */
  oldestPendingAgeSeconds: number | null;
  perMinute: Array<{ minute: string; delivered: number; failed: number }>;
}

export interface StatusResponse {
  generatedAt: string;
  destinations: DestinationStatus[];
  unrouted: { count: number; lastAt?: string };
}

export const PER_MINUTE_WINDOW = 60;

/** The state a destination is in, from its config and its state item. */
export function runState(
  enabled: boolean,
  s: DestinationStateView,
): { state: DestinationRunState; reason?: DestinationStatus['stateReason'] } {
  if (!enabled)
    return {
      state: 'disabled',
      reason: { code: 'DESTINATION_DISABLED', message: 'enabled: false in the config' },
    };
  if (!s.paused) return { state: 'running' };
  const reason = {
    code: s.reason?.code ?? (s.stoppedByOperator ? 'DESTINATION_STOPPED' : 'DESTINATION_PAUSED'),
    message: s.reason?.message ?? '',
    ...(s.pausedAt ? { since: s.pausedAt } : {}),
  };
  return { state: s.stoppedByOperator ? 'stopped' : 'paused', reason };
}

/** The last `minutes` whole minutes (oldest first), each with its outcomes (0 where the counters have none). */
export function minuteSeries(
  counters: DestinationCounters | undefined,
  now: number,
  minutes = PER_MINUTE_WINDOW,
): DestinationStatus['perMinute'] {
  const have = new Map((counters?.perMinute ?? []).map((m) => [m.minute, m]));
  const current = Math.floor(now / 60_000) * 60_000;
  const out: DestinationStatus['perMinute'] = [];
  for (let i = minutes - 1; i >= 0; i--) {
    const minute = new Date(current - i * 60_000).toISOString().slice(0, 16);
    const m = have.get(minute);
    out.push({ minute: `${minute}:00.000Z`, delivered: m?.delivered ?? 0, failed: m?.failed ?? 0 });
  }
  return out;
}

export async function buildStatus(deps: StatusDeps): Promise<StatusResponse> {
  const now = deps.now();
  const transmits = deps.config.data_transmit;
  const counters = await deps.counters.destinations(
    [...transmits.map((t) => t.transmit_name), UNROUTED_TARGET],
    PER_MINUTE_WINDOW,
  );
  const depths = new Map<string, Promise<number | undefined>>();
  const depthOf = (vendor: string) => {
    const d = depths.get(vendor) ?? deps.dlqDepth(vendor);
    depths.set(vendor, d);
    return d;
  };
  const destinations = await Promise.all(
    transmits.map(async (t): Promise<DestinationStatus> => {
      const [state, dlq, due] = await Promise.all([
        deps.destinationState(t.transmit_name),
        depthOf(t.transmit_type),
        deps.counters.earliestDue(t.transmit_name),
      ]);
      const c = counters.get(t.transmit_name);
      const { state: run, reason } = runState(t.enabled !== false, state);
      return {
        name: t.transmit_name,
        vendor: t.transmit_type,
        state: run,
        ...(reason ? { stateReason: reason } : {}),
        counts: c?.counts ?? {},
        ...(c?.lastSuccess ? { lastSuccess: c.lastSuccess } : {}),
        ...(c?.lastError ? { lastError: c.lastError } : {}),
        dlqDepth: dlq ?? 0,
        oldestPendingAgeSeconds:
          due === undefined ? null : Math.max(0, Math.round((now - Date.parse(due)) / 1000)),
        perMinute: minuteSeries(c, now),
      };
    }),
  );
  const u = counters.get(UNROUTED_TARGET);
  return {
    generatedAt: new Date(now).toISOString(),
    destinations,
    unrouted: { count: u?.counts.UNROUTED ?? 0, ...(u?.lastAt ? { lastAt: u.lastAt } : {}) },
  };
}
