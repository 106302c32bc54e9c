/**
 * Folds a batch of status-table changes (a DynamoDB Stream batch, NEW_AND_OLD_IMAGES) into counter deltas: one
 * per destination, one for unrouted keys, one per stream. Pure: the adapter writes each delta as one UpdateItem
 * (ADD), plus one per-minute bucket item per minute the batch touched, so the counters cost a few writes per
 * batch, never one per status change.
 *
 * Counts are transitions: a record that moves QUEUED → SENDING gives QUEUED -1, SENDING +1; a new record +1 in
 * its status; a removed one -1. So `counts` is, at any moment, how many records are in each status.
 */
import { keyParts } from '../delivery.ts';
import { type DeliveryStatus, FAILURE, STATUSES, SUCCESS } from '../status.ts';

/** One stream record, its images already unmarshalled (the handler and the local reader do that). */
export interface ChangeRecord {
  /** The stream's sequence number (digits). */
  seq: string;
  kind: 'INSERT' | 'MODIFY' | 'REMOVE';
  keys: { pk: string; sk: string };
  old?: Record<string, unknown>;
  new?: Record<string, unknown>;
  /** ApproximateCreationDateTime, epoch ms: the fallback time of a change whose image has no `updatedAt`. */
  at: number;
}

/** Counters of unrouted keys are kept under this target (no destination has this name: it has parentheses). */
export const UNROUTED_TARGET = '(unrouted)';

/** Per-minute buckets: delivered = a success the vendor has (not SKIPPED), failed = a final failure. */
const DELIVERED: readonly DeliveryStatus[] = SUCCESS.filter((s) => s !== 'SKIPPED');

export interface WhereWhen {
  at: string;
  key: string;
}

export interface ErrorAt extends WhereWhen {
  code: string;
  message: string;
}

/** What one batch changes for one destination (or for unrouted keys: UNROUTED_TARGET). */
export interface CounterDelta {
  target: string;
  /** Net change per status (entries that net to 0 are left out). */
  counts: Partial<Record<DeliveryStatus, number>>;
  lastSuccess?: WhereWhen;
  lastError?: ErrorAt;
  /** Unrouted keys: when the latest one was recorded. */
  lastAt?: string;
  /** `YYYY-MM-DDTHH:MM` → outcomes in that minute. */
  minutes: Record<string, { delivered: number; failed: number }>;
}

/** What one batch changes for one stream (`asset:stream_type`). */
export interface StreamDelta {
  stream: string;
  lastObjectAt?: string;
  lastDeliveredAt?: string;
  lateSidecars: number;
  lastLateSidecar?: WhereWhen;
}

/** A destination's counters as /v1/status reads them. */
export interface DestinationCounters {
  target: string;
  counts: Partial<Record<DeliveryStatus, number>>;
  lastSuccess?: WhereWhen;
  lastError?: ErrorAt;
  lastAt?: string;
  /** Minutes with an outcome, oldest first (minutes without one are absent). */
  perMinute: Array<{ minute: string; delivered: number; failed: number }>;
}

export interface StreamCounters {
  stream: string;
  lastObjectAt?: string;
  lastDeliveredAt?: string;
  lateSidecars: number;
  lastLateSidecar?: WhereWhen;
}

/** The counters' reads, as status.ts and streams.ts use them (the DynamoDB adapter's OpsCounters). */
export interface CountersPort {
  destinations(targets: readonly string[], minutes?: number): Promise<Map<string, DestinationCounters>>;
  streams(ids: readonly string[]): Promise<Map<string, StreamCounters>>;
  /** The earliest due time among a destination's deliveries that still wait on someone (index byDue). */
  earliestDue(destination: string): Promise<string | undefined>;
}

export interface BatchDeltas {
  /** Identifies the batch: `<first seq>-<last seq>`. A counter item remembers the last batch it took. */
  batchId: string;
  destinations: CounterDelta[];
  streams: StreamDelta[];
  /** Records that were not delivery records (destination state, rate buckets, counters, config…). */
  ignored: number;
}

/** The destination a delivery record's sort key names; UNROUTED_TARGET for `route`; undefined otherwise. */
export function targetOf(sk: string): string | undefined {
  if (sk === 'route') return UNROUTED_TARGET;
  if (sk.startsWith('destination#')) return sk.slice('destination#'.length);
  // A restream's new delivery (ops API): `restream#<requestId>#<destination>`; request ids have no '#'.
  if (sk.startsWith('restream#')) {
    const rest = sk.slice('restream#'.length);
    const hash = rest.indexOf('#');
    return hash > 0 ? rest.slice(hash + 1) : undefined;
  }
  return undefined;
}

const isStatus = (v: unknown): v is DeliveryStatus =>
  typeof v === 'string' && (STATUSES as readonly string[]).includes(v);

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function errorOf(image: Record<string, unknown> | undefined): { code: string; message: string } | undefined {
  const e = image?.lastError as { code?: unknown; message?: unknown } | undefined;
  const code = str(e?.code);
  return code ? { code, message: typeof e?.message === 'string' ? e.message : '' } : undefined;
}

function noticeCode(image: Record<string, unknown> | undefined): string | undefined {
  return str((image?.notice as { code?: unknown } | undefined)?.code);
}

const later = <T extends { at: string }>(a: T | undefined, b: T): T => (a && a.at >= b.at ? a : b);
const laterIso = (a: string | undefined, b: string): string => (a && a >= b ? a : b);

/** `2026-01-05T08:15:42.123Z` → `2026-01-05T08:15`. */
export function minuteOf(iso: string): string {
  return iso.slice(0, 16);
}

export function aggregate(records: readonly ChangeRecord[]): BatchDeltas {
  const byTarget = new Map<string, CounterDelta>();
  const byStream = new Map<string, StreamDelta>();
  let ignored = 0;
  const delta = (target: string): CounterDelta => {
    const d = byTarget.get(target) ?? { target, counts: {}, minutes: {} };
    byTarget.set(target, d);
    return d;
  };
  const streamDelta = (stream: string): StreamDelta => {
    const d = byStream.get(stream) ?? { stream, lateSidecars: 0 };
    byStream.set(stream, d);
    return d;
  };
  const minute = (d: CounterDelta, at: string) => {
    const m = d.minutes[minuteOf(at)] ?? { delivered: 0, failed: 0 };
    d.minutes[minuteOf(at)] = m;
    return m;
  };

  for (const r of records) {
    const target = r.keys.pk.startsWith('object#') ? targetOf(r.keys.sk) : undefined;
    if (!target) {
      ignored++;
      continue;
    }
    const before = isStatus(r.old?.status) && r.kind !== 'INSERT' ? r.old?.status : undefined;
    const after = isStatus(r.new?.status) && r.kind !== 'REMOVE' ? r.new?.status : undefined;
    const image = r.new ?? r.old;
    const at = str(r.new?.updatedAt) ?? new Date(r.at).toISOString();
    const key = keyParts(r.keys.pk, r.keys.sk)?.key ?? r.keys.pk;
    const d = delta(target);
    if (before !== after) {
      if (before) d.counts[before] = (d.counts[before] ?? 0) - 1;
      if (after) d.counts[after] = (d.counts[after] ?? 0) + 1;
    }
    const entered = after && after !== before ? after : undefined;
    if (entered && DELIVERED.includes(entered)) minute(d, at).delivered++;
    if (entered && FAILURE.includes(entered) && target !== UNROUTED_TARGET) minute(d, at).failed++;
    if (entered && SUCCESS.includes(entered)) d.lastSuccess = later(d.lastSuccess, { at, key });
    if (entered === 'UNROUTED') d.lastAt = laterIso(d.lastAt, at);
    const err = errorOf(r.new);
    const oldErr = errorOf(r.old);
    if (
      after &&
      err &&
      target !== UNROUTED_TARGET &&
      (entered || err.code !== oldErr?.code || err.message !== oldErr?.message)
    )
      d.lastError = later(d.lastError, { ...err, at, key });

    const asset = str(image?.asset);
    const streamType = str(image?.streamType);
    if (asset && streamType) {
      const s = streamDelta(`${asset}:${streamType}`);
      if (r.kind === 'INSERT') s.lastObjectAt = laterIso(s.lastObjectAt, str(r.new?.createdAt) ?? at);
      if (entered && DELIVERED.includes(entered)) s.lastDeliveredAt = laterIso(s.lastDeliveredAt, at);
      if (noticeCode(r.new) === 'SIDECAR_LATE' && noticeCode(r.old) !== 'SIDECAR_LATE') {
        s.lateSidecars++;
        s.lastLateSidecar = later(s.lastLateSidecar, { at, key });
      }
    }
  }

  for (const d of byTarget.values())
    for (const [s, n] of Object.entries(d.counts)) if (n === 0) delete d.counts[s as DeliveryStatus];
  const destinations = [...byTarget.values()].filter(
    (d) => Object.keys(d.counts).length > 0 || d.lastError || d.lastSuccess || d.lastAt,
  );
  const streams = [...byStream.values()].filter(
    (s) => s.lastObjectAt || s.lastDeliveredAt || s.lateSidecars > 0,
  );
  const first = records[0]?.seq ?? '';
  const last = records[records.length - 1]?.seq ?? '';
  return { batchId: `${first}-${last}`, destinations, streams, ignored };
}
