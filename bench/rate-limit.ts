/**
 * Section 2: the Instrumental request rate the relay sustains against a simulator at the documented limit
 * (50 burst, 5/s per key), and how many of its requests were refused with 429.
 */
import type { ReceivedRequest } from '#simulators/framework/server.ts';
import type { StoredFile } from '#simulators/instrumental/index.ts';
import { makeJpeg } from '#simulators/media/index.ts';
import { type BenchRelay, pool, putObject, STREAM_ASSETS, statusCounts, waitSettled } from './pipeline.ts';

/** The documented limit (vendor contract §3, simulator defaults). */
export const DOCUMENTED = { burst: 50, perSecond: 5 } as const;

export interface RateLimitOptions {
  files: number;
  fileBytes: number;
  uploadConcurrency: number;
}

export interface RateLimitResult {
  files: number;
  /** The relay's own limit for this destination: the Instrumental plug-in's default. */
  relayLimit: { burst: number; perSecond: number } | undefined;
  /** First PutObject → last acceptance. */
  totalMs: number;
  ingestRequests: number;
  accepted: number;
  rejected429: number;
  otherStatuses: string;
  share429: number;
  /** Time between the first and the 50th acceptance. */
  burstMs: number;
  /** Acceptances after the 50th, per second, over the window from the 50th to the last acceptance. */
  sustainedPerSec: number;
  windowMs: number;
  /** Every ingest request (any status) after the 50th acceptance, per second over the same window. */
  attemptedPerSec: number;
  vsLimit: number;
  /** Most acceptances a perfect client could get between the first and the last acceptance: B + R × t. */
  allowedByBucket: number;
  fileStatusInWindow: number;
  deliveriesRetried: number;
  statuses: string;
}

const atMs = (r: ReceivedRequest) => Date.parse(r.at);

export async function runRateLimit(relay: BenchRelay, opts: RateLimitOptions): Promise<RateLimitResult> {
  const { stack, limited } = relay;
  const bodies = Array.from({ length: opts.files }, (_, i) =>
    makeJpeg({ width: 64, height: 48, seed: 10_000 + i, padToBytes: opts.fileBytes }),
  );
  const keys = bodies.map(
    (_, i) => `${STREAM_ASSETS.limited}/AOI-${i % 8}/SN-R${String(i).padStart(5, '0')}_20260105T091500Z.jpg`,
  );
  let stored = 0;
  const onIngested = (_f: StoredFile) => {
    stored++;
  };
  limited.on('ingested', onIngested);
  const t0 = Date.now();
  let settled: Awaited<ReturnType<typeof waitSettled>>;
  try {
    const objs = await pool(keys, opts.uploadConcurrency, (k, i) => putObject(stack, k, bodies[i] as Buffer));
    settled = await waitSettled(stack, objs, {
      ready: () => stored >= opts.files,
      progress: () => stored,
      // 50 at once + 100 at 5/s ≈ 20 s; the stall guard is long because a retry may wait its backoff.
      deadlineMs: 150_000,
      stallMs: 15_000,
    });
  } finally {
    limited.off('ingested', onIngested);
  }

  const ingest = limited.requestsTo('ingestImage');
  const accepted = ingest
    .filter((r) => r.status === 200)
    .map(atMs)
    .sort((a, b) => a - b);
  const rejected429 = ingest.filter((r) => r.status === 429).length;
  const others = new Map<string, number>();
  for (const r of ingest)
    if (r.status !== 200 && r.status !== 429) {
      const k = String(r.status ?? r.outcome);
      others.set(k, (others.get(k) ?? 0) + 1);
    }

  const first = accepted[0] ?? Number.NaN;
  const at50 = accepted[DOCUMENTED.burst - 1] ?? Number.NaN;
  const last = accepted[accepted.length - 1] ?? Number.NaN;
  const windowMs = last - at50;
  const afterBurst = accepted.length - DOCUMENTED.burst;
  const sustainedPerSec = windowMs > 0 ? (afterBurst * 1000) / windowMs : Number.NaN;
  const attemptedAfter = ingest.filter((r) => atMs(r) > at50).length;
  const fileStatusInWindow = limited
    .requestsTo('fileStatus')
    .filter((r) => atMs(r) >= first && atMs(r) <= last).length;

  // Loaded after the stack has set the environment, like every relay module.
  const { getVendor } = await import('#vendors/registry.ts');
  return {
    files: opts.files,
    relayLimit: getVendor('instrumental').rateLimit,
    totalMs: Math.max(...settled.acceptedAtMs) - t0,
    ingestRequests: ingest.length,
    accepted: accepted.length,
    rejected429,
    otherStatuses: [...others].map(([s, n]) => `${s}: ${n}`).join(', ') || 'none',
    share429: ingest.length > 0 ? rejected429 / ingest.length : Number.NaN,
    burstMs: at50 - first,
    sustainedPerSec,
    windowMs,
    attemptedPerSec: windowMs > 0 ? (attemptedAfter * 1000) / windowMs : Number.NaN,
    vsLimit: sustainedPerSec / DOCUMENTED.perSecond,
    allowedByBucket: DOCUMENTED.burst + (DOCUMENTED.perSecond * (last - first)) / 1000,
    fileStatusInWindow,
    deliveriesRetried: settled.records.filter((r) => r.attempts > 1).length,
    statuses: statusCounts(settled.records),
  };
}
