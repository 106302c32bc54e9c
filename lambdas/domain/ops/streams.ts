/**
 * GET /v1/streams (docs/ops-api.md): every configured stream with its receiver, destinations, last object seen,
 * last delivery, and FactoryTX-shaped markers raised from what the relay sees: a destination paused, stopped
 * or disabled; a destination's failure rate over a threshold; a stream silent longer than its
 * `expected_interval`; sidecars that came after their file. Pure: reads are ports.
 *
 * Each stream carries FactoryTX's fields (`stream`, `data_receiver`, `asset`, `stream_type`, `markers` with
 * `component, component_type, asset, stream_type, category, timestamp, level, message`) beside the relay's own
 * (`id`, `receiver`, `destinations`, `lastObjectAt`, `lastDeliveredAt`). Keys that matched no stream belong to
 * no stream: they are one marker in `unrouted`, not a marker repeated on every stream.
 */
import { listStreams, streamId, transmitTakes } from '../config/match.ts';
import type { RelayConfig } from '../config/types.ts';
import { type CountersPort, UNROUTED_TARGET } from './aggregate.ts';
import { type DestinationStateView, runState } from './status.ts';

export interface Marker {
  component: string;
  component_type: 'Receiver' | 'Transmit';
  /** FactoryTX's: the stream the marker is shown on (absent on the unrouted marker, which has none). */
  asset?: string;
  stream_type?: string;
  /** What raised it: destination_state, error_rate, silence, late_sidecar, unrouted. */
  category: 'destination_state' | 'error_rate' | 'silence' | 'late_sidecar' | 'unrouted';
  level: 'info' | 'warning' | 'error';
  message: string;
  timestamp: string;
}

export interface StreamStatus {
  /** FactoryTX's name of the stream (`asset:stream_type`); `id` is the same. */
  stream: string;
  /** FactoryTX's name of the receiver; `receiver` is the same. */
  data_receiver: string;
  id: string;
  receiver: string;
  asset: string;
  stream_type: string;
  destinations: string[];
  lastObjectAt?: string;
  lastDeliveredAt?: string;
  markers: Marker[];
}

export interface StreamsDeps {
  config: RelayConfig;
  counters: CountersPort;
  destinationState(name: string): Promise<DestinationStateView>;
  now(): number;
  /** A destination's failed / (delivered + failed) over `windowMinutes` above this raises an error marker. */
  errorRateThreshold?: number;
  /** …when at least this many outcomes happened in the window (default 5). */
  minOutcomes?: number;
  windowMinutes?: number;
  /** Unrouted keys and late sidecars raise a marker while their latest is this recent (default 24 h). */
  recentMs?: number;
}

export const DEFAULT_ERROR_RATE_THRESHOLD = 0.2;

/** `expected_interval` in seconds: a number of seconds, or `90s`, `15m`, `2h`, `1d`; undefined when unset/invalid. */
export function intervalSeconds(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) return v;
  if (typeof v !== 'string') return undefined;
  const m = /^(\d+)\s*(s|m|h|d)$/.exec(v.trim());
  if (!m) return undefined;
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as 's' | 'm' | 'h' | 'd'];
}

const ago = (ms: number): string => {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
};

export interface StreamsView {
  streams: StreamStatus[];
  /** Keys in the bucket that matched no stream, with a marker while the latest is recent. */
  unrouted: { count: number; lastAt?: string; marker?: Marker };
}

export async function buildStreams(deps: StreamsDeps): Promise<StreamsView> {
  const now = deps.now();
  const nowIso = new Date(now).toISOString();
  const refs = listStreams(deps.config);
  const ids = refs.map((r) => streamId(r.stream));
  const transmits = deps.config.data_transmit;
  const windowMinutes = deps.windowMinutes ?? 15;
  const threshold = deps.errorRateThreshold ?? DEFAULT_ERROR_RATE_THRESHOLD;
  const recentMs = deps.recentMs ?? 86_400_000;
  const [streamCounters, destCounters, states] = await Promise.all([
    deps.counters.streams(ids),
    deps.counters.destinations([...transmits.map((t) => t.transmit_name), UNROUTED_TARGET], windowMinutes),
    Promise.all(transmits.map((t) => deps.destinationState(t.transmit_name))),
  ]);

  // Markers of each destination, raised once and shown on every stream it takes.
  const transmitMarkers = new Map<string, Array<Omit<Marker, 'asset' | 'stream_type'>>>();
  transmits.forEach((t, i) => {
    const markers: Array<Omit<Marker, 'asset' | 'stream_type'>> = [];
    const { state, reason } = runState(t.enabled !== false, states[i] as DestinationStateView);
    if (state !== 'running')
      markers.push({
        component: t.transmit_name,
        component_type: 'Transmit',
        category: 'destination_state',
        level: state === 'paused' ? 'error' : state === 'stopped' ? 'warning' : 'info',
        message: `destination ${state}${reason ? `: ${reason.code}${reason.message ? ` (${reason.message})` : ''}` : ''}`,
        timestamp: reason?.since ?? nowIso,
      });
    const c = destCounters.get(t.transmit_name);
    const since = new Date(now - windowMinutes * 60_000).toISOString().slice(0, 16);
    let delivered = 0;
    let failed = 0;
    for (const m of c?.perMinute ?? [])
      if (m.minute >= since) {
        delivered += m.delivered;
        failed += m.failed;
      }
    const total = delivered + failed;
    if (total >= (deps.minOutcomes ?? 5) && failed / total > threshold)
      markers.push({
        component: t.transmit_name,
        component_type: 'Transmit',
        category: 'error_rate',
        level: 'error',
        message: `${failed} of ${total} deliveries failed in the last ${windowMinutes} min (${Math.round((100 * failed) / total)} % > ${Math.round(threshold * 100)} %)${c?.lastError ? `; last: ${c.lastError.code}` : ''}`,
        timestamp: nowIso,
      });
    transmitMarkers.set(t.transmit_name, markers);
  });

  const unrouted = destCounters.get(UNROUTED_TARGET);
  const streams = refs.map((ref, i): StreamStatus => {
    const id = ids[i] as string;
    const c = streamCounters.get(id);
    const receiver = ref.receiver.data_receiver_name;
    const destinations = transmits.filter((t) => transmitTakes(t, ref.stream)).map((t) => t.transmit_name);
    const on = { asset: ref.stream.asset, stream_type: ref.stream.stream_type };
    const markers: Marker[] = destinations.flatMap((d) =>
      (transmitMarkers.get(d) ?? []).map((m) => ({ ...m, ...on })),
    );
    const expected = intervalSeconds(ref.stream.expected_interval);
    if (expected !== undefined) {
      const last = c?.lastObjectAt ? Date.parse(c.lastObjectAt) : undefined;
      if (last === undefined || now - last > expected * 1000)
        markers.push({
          component: receiver,
          component_type: 'Receiver',
          ...on,
          category: 'silence',
          level: 'warning',
          message:
            last === undefined
              ? `no object seen yet; expected one every ${ref.stream.expected_interval}`
              : `silent for ${ago(now - last)}, longer than its expected_interval (${ref.stream.expected_interval})`,
          timestamp: nowIso,
        });
    }
    if (c && c.lateSidecars > 0 && c.lastLateSidecar && now - Date.parse(c.lastLateSidecar.at) < recentMs)
      markers.push({
        component: receiver,
        component_type: 'Receiver',
        ...on,
        category: 'late_sidecar',
        level: 'warning',
        message: `${c.lateSidecars} sidecar(s) came after their file was sent (the vendor got the config's defaults); latest: ${c.lastLateSidecar.key}`,
        timestamp: c.lastLateSidecar.at,
      });
    return {
      stream: id,
      data_receiver: receiver,
      id,
      receiver,
      asset: ref.stream.asset,
      stream_type: ref.stream.stream_type,
      destinations,
      ...(c?.lastObjectAt ? { lastObjectAt: c.lastObjectAt } : {}),
      ...(c?.lastDeliveredAt ? { lastDeliveredAt: c.lastDeliveredAt } : {}),
      markers,
    };
  });
  const count = unrouted?.counts.UNROUTED ?? 0;
  const lastAt = unrouted?.lastAt;
  const recent = count > 0 && lastAt !== undefined && now - Date.parse(lastAt) < recentMs;
  return {
    streams,
    unrouted: {
      count,
      ...(lastAt ? { lastAt } : {}),
      ...(recent
        ? {
            marker: {
              component: deps.config.data_receiver.map((r) => r.data_receiver_name).join(', '),
              component_type: 'Receiver' as const,
              category: 'unrouted' as const,
              level: 'warning' as const,
              message: `${count} key(s) in the bucket matched no stream (UNROUTED); latest at ${lastAt}`,
              timestamp: lastAt,
            },
          }
        : {}),
    },
  };
}
