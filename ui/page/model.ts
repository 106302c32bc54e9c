/**
 * What the page computes from the API's answers, with no DOM: status groups, failure groups, the chart's
 * geometry, how many objects an action touches, and time formatting. Unit-tested in node (test/ui/model.test.ts).
 */
import {
  type DeliveryStatus,
  SENDABLE,
  STATUSES,
  SUCCESS,
  TERMINAL,
  FAILURE as TERMINAL_FAILURES,
} from '../../lambdas/domain/status.ts';
import type { Delivery, DestinationStatus, RestreamBody } from './types.ts';

// The relay's own status sets (pure constants: esbuild bundles only these), so the page and the relay agree.
export { SENDABLE, SUCCESS };
/** Final and not fine, with a destination: what the Failures view lists per destination (UNROUTED apart). */
export const FAILURE: readonly DeliveryStatus[] = TERMINAL_FAILURES.filter((s) => s !== 'UNROUTED');
/** Still moving: queued at the relay, or accepted by the vendor and being checked. */
export const PENDING: readonly DeliveryStatus[] = STATUSES.filter((s) => !TERMINAL.includes(s));

export type Tone = 'ok' | 'bad' | 'wait';

export function toneOf(status: string): Tone {
  if ((SUCCESS as readonly string[]).includes(status)) return 'ok';
  if ((FAILURE as readonly string[]).includes(status) || status === 'UNROUTED') return 'bad';
  return 'wait';
}

export function sumOf(counts: DestinationStatus['counts'], statuses: readonly DeliveryStatus[]): number {
  let n = 0;
  for (const s of statuses) n += counts[s] ?? 0;
  return n;
}

/** Counts by status in a fixed, meaningful order (success, pending, failure), zeros left out. */
export function orderedCounts(counts: DestinationStatus['counts']): [DeliveryStatus, number][] {
  const order = [...SUCCESS, ...PENDING, ...FAILURE, 'UNROUTED' as const];
  const known = order
    .filter((s) => (counts[s] ?? 0) > 0)
    .map((s): [DeliveryStatus, number] => [s, counts[s]!]);
  const other = (Object.keys(counts) as DeliveryStatus[])
    .filter((s) => !order.includes(s) && (counts[s] ?? 0) > 0)
    .map((s): [DeliveryStatus, number] => [s, counts[s]!]);
  return [...known, ...other];
}

export interface FailureGroup {
  /** Stable id for the DOM and the tests: `destination|status|code`. */
  id: string;
  destination: string;
  status: DeliveryStatus;
  code: string;
  /** One message of the group (they usually share it). */
  message: string;
  items: Delivery[];
  /** The listing stopped at its cap: the group has at least `items.length`. */
  truncated: boolean;
}

export const UNROUTED_DESTINATION = '(unrouted)';

/** Groups failed deliveries by destination, status and code; the largest groups first. */
export function groupFailures(
  items: readonly Delivery[],
  truncated: ReadonlySet<string> = new Set(),
): FailureGroup[] {
  const groups = new Map<string, FailureGroup>();
  for (const d of items) {
    const destination = d.destination ?? UNROUTED_DESTINATION;
    const code = d.lastError?.code ?? d.notice?.code ?? 'NO_CODE';
    const id = `${destination}|${d.status}|${code}`;
    let g = groups.get(id);
    if (!g) {
      g = {
        id,
        destination,
        status: d.status,
        code,
        message: d.lastError?.message ?? d.notice?.message ?? '',
        items: [],
        truncated: truncated.has(`${destination}|${d.status}`),
      };
      groups.set(id, g);
    }
    g.items.push(d);
  }
  return [...groups.values()].sort((a, b) => b.items.length - a.items.length || a.id.localeCompare(b.id));
}

/** The restream body for one failure group: every delivery of that destination, status and code. */
export function restreamBodyForGroup(group: FailureGroup, requestId: string): RestreamBody {
  return group.destination === UNROUTED_DESTINATION
    ? { requestId, keys: [...new Set(group.items.map((d) => d.key))] }
    : { requestId, destination: group.destination, status: group.status, code: group.code };
}

/** The restream body for one stream and an arrival time range (FactoryTX's `{<receiver>: [{asset, stream_type}]}`). */
export function restreamBodyForStream(
  receiver: string,
  streamId: string,
  range: { since?: string; until?: string },
  requestId: string,
): RestreamBody {
  const [asset, streamType] = splitStreamId(streamId);
  return {
    requestId,
    [receiver]: [{ asset, stream_type: streamType }],
    ...(range.since ? { since: range.since } : {}),
    ...(range.until ? { until: range.until } : {}),
  };
}

export function splitStreamId(id: string): [string, string] {
  const i = id.lastIndexOf(':');
  return i < 0 ? [id, ''] : [id.slice(0, i), id.slice(i + 1)];
}

/** A request id the API accepts ([A-Za-z0-9._-]{1,64}), unique enough per click. */
export function newRequestId(now: Date, random: () => number = Math.random): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `ui-${stamp}-${Math.floor(random() * 36 ** 6)
    .toString(36)
    .padStart(6, '0')}`;
}

export interface ChartGeometry {
  width: number;
  height: number;
  /** The largest per-minute value (at least 1, so an idle hour draws flat lines). */
  max: number;
  delivered: string;
  failed: string;
  /** Minutes shown (oldest first). */
  minutes: number;
  totals: { delivered: number; failed: number };
}

/**
 * Polylines for delivered and failed per minute over the last `minutes` minutes ending at `now` (minutes the
 * API left out count as 0), in an SVG box of width × height.
 */
export function chartGeometry(
  perMinute: DestinationStatus['perMinute'],
  now: Date,
  opts: { width?: number; height?: number; minutes?: number } = {},
): ChartGeometry {
  const width = opts.width ?? 240;
  const height = opts.height ?? 48;
  const minutes = opts.minutes ?? 60;
  const end = Math.floor(now.getTime() / 60_000);
  const start = end - minutes + 1;
  const delivered = new Array<number>(minutes).fill(0);
  const failed = new Array<number>(minutes).fill(0);
  for (const p of perMinute) {
    const t = Date.parse(p.minute);
    if (Number.isNaN(t)) continue;
    const i = Math.floor(t / 60_000) - start;
    if (i < 0 || i >= minutes) continue;
    delivered[i]! += p.delivered;
    failed[i]! += p.failed;
  }
  const max = Math.max(1, ...delivered, ...failed);
  const step = minutes > 1 ? width / (minutes - 1) : 0;
  const line = (values: number[]) =>
    values.map((v, i) => `${round(i * step)},${round(height - 1 - (v / max) * (height - 2))}`).join(' ');
  const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
  return {
    width,
    height,
    max,
    delivered: line(delivered),
    failed: line(failed),
    minutes,
    totals: { delivered: sum(delivered), failed: sum(failed) },
  };
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

/** "12 s ago", "5 min ago", "3 h ago", "2 d ago". */
export function ago(iso: string | undefined, now: Date): string {
  if (!iso) return 'never';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.max(0, Math.round((now.getTime() - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

/** A time as the operator reads it: local date and time to the second, with the ISO string kept for a tooltip. */
export function clock(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** What the Find box holds: a serial (no slash), or a key or the start of one (has a slash). */
export function searchParamsFor(text: string): URLSearchParams | undefined {
  const q = text.trim();
  if (!q) return undefined;
  return new URLSearchParams(q.includes('/') ? { key: q } : { serial: q });
}

/** Deliveries of one unit grouped by object (key + version), each object's deliveries by destination name. */
export function byObject(
  items: readonly Delivery[],
): { key: string; versionId?: string; items: Delivery[] }[] {
  const map = new Map<string, { key: string; versionId?: string; items: Delivery[] }>();
  for (const d of items) {
    const id = `${d.key}\u0000${d.versionId ?? ''}`;
    let o = map.get(id);
    if (!o) {
      o = { key: d.key, ...(d.versionId ? { versionId: d.versionId } : {}), items: [] };
      map.set(id, o);
    }
    o.items.push(d);
  }
  for (const o of map.values())
    o.items.sort(
      (a, b) =>
        (a.destination ?? '').localeCompare(b.destination ?? '') || a.createdAt.localeCompare(b.createdAt),
    );
  return [...map.values()].sort((a, b) => a.key.localeCompare(b.key));
}

/** Whether the browser can show the object: images and videos by extension. */
export function mediaKind(key: string): 'image' | 'video' | undefined {
  const ext = key.slice(key.lastIndexOf('.') + 1).toLowerCase();
  if (['jpg', 'jpeg', 'png', 'gif', 'webp', 'bmp'].includes(ext)) return 'image';
  if (['mp4', 'webm', 'mov'].includes(ext)) return 'video';
  return undefined;
}
