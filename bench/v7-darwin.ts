/**
 * Section 6: V7 Darwin under injected failures. The same files go to the same simulator twice, with the same
 * failure injection: once through the relay (S3 put → router → forwarder: register → sign → PUT → confirm,
 * checkpointed), once through a client written as darwin-py 3.5.3 does it (per-request retries of 429/5xx,
 * the PUT retried on 503 only, any other failure fails the file, which a later push registers again).
 *
 * Injection: every request of each of the four steps fails with probability `failureRate` (8.5 %: 1 − 0.915⁴ ≈
 * 30 % of files meet at least one failure on their way), half before V7 acts (5xx, S3 SlowDown, 429 with
 * Retry-After) and, for sign, PUT and confirm, half after it (V7 did the step, the answer is lost). A lost
 * register answer is not injected: neither client can recover it (V7 offers no lookup of the upload id).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import type { DataTransmit, StreamConfig } from '#domain/config/types.ts';
import type { ReceivedRequest } from '#simulators/framework/index.ts';
import { makeJpeg } from '#simulators/media/index.ts';
import { V7DarwinSimulator } from '#simulators/v7-darwin/index.ts';
import { type BenchRelay, pool, putObject, reachedAt, statusCounts, waitSettled } from './pipeline.ts';

/** An obviously fake key. */
export const V7_BENCH = {
  asset: 'line-3',
  secret: 'bench/v7-darwin',
  key: 'bench-v7-key-not-a-secret',
  team: 'bench',
  datasets: { relay: 'relay', darwinPy: 'darwin-py' },
} as const;

export function v7Simulator(): V7DarwinSimulator {
  return new V7DarwinSimulator({
    seed: 7,
    maxRecorded: 100_000,
    apiKeys: { [V7_BENCH.key]: { team: V7_BENCH.team } },
    teams: { [V7_BENCH.team]: { datasets: [V7_BENCH.datasets.relay, V7_BENCH.datasets.darwinPy] } },
    s3IdleTimeoutMs: 2_000,
  });
}

export function v7Stream(): StreamConfig {
  return {
    asset: V7_BENCH.asset,
    stream_type: 'aoi-camera',
    key_pattern: `${V7_BENCH.asset}/{station}/{serial}_{taken_at}.{ext}`,
    required: ['serial', 'station'],
  };
}

export function v7Transmit(url: string): DataTransmit {
  return {
    transmit_name: 'bench-v7',
    transmit_type: 'v7-darwin',
    filter_stream: [`${V7_BENCH.asset}:aoi-camera`],
    base_url: url,
    api_key_secret: V7_BENCH.secret,
    options: { team_slug: V7_BENCH.team, dataset_slug: V7_BENCH.datasets.relay },
    fields: { name: '{serial}_{taken_at}.{ext}', path: '/{station}' },
  };
}

export interface V7BenchOptions {
  files: number;
  fileBytes: number;
  failureRate: number;
  uploadConcurrency: number;
  /** darwin-py's retry waits, shortened (its own: 60–300 s per request, 1–16 s per PUT). */
  darwinPy: {
    apiTries: number;
    initialWaitMs: number;
    maxWaitMs: number;
    putTries: number;
    putWaitMs: number;
    pushes: number;
  };
}

export interface ClientFigures {
  /** Files whose upload V7 confirmed (slot complete). */
  delivered: number;
  deliveredBytes: number;
  bytesSent: number;
  requests: number;
  /** Per route: requests (failures injected among them). */
  routes: Record<string, { requests: number; injected: number }>;
  /** First byte sent (relay: first PutObject) → the last confirmed file. */
  ms: number;
  /** Files never confirmed, and why (relay: record status; darwin-py: the stage it failed at, then the re-push). */
  lost: string;
  registerCallsMax: number;
}

export interface V7BenchResult {
  files: number;
  fileBytes: number;
  relay: ClientFigures & { statuses: string; retried: number };
  darwinPy: ClientFigures & { skipped: number; pushes: number };
}

const ROUTES = ['registerUpload', 'signUpload', 's3Put', 'confirmUpload'] as const;

/** mulberry32: a small seeded generator, so both runs meet the same kind of luck. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * Arms the injection: for each request of a step, decided as it arrives (the simulator's `request` event runs
 * before its fault decision), a failure before V7 acts or an answer lost after it. Answers the counts.
 */
function injectFailures(sim: V7DarwinSimulator, rate: number, seed: number) {
  const random = rng(seed);
  const injected: Record<string, number> = Object.fromEntries(ROUTES.map((r) => [r, 0]));
  let flip = 0;
  const onRequest = (r: ReceivedRequest) => {
    const route = r.route as (typeof ROUTES)[number];
    if (!ROUTES.includes(route)) return;
    const u = random();
    if (u >= rate) return;
    injected[route] = (injected[route] ?? 0) + 1;
    const before = route === 'registerUpload' || u < rate / 2;
    if (!before) {
      sim.loseAnswers(route, route === 'signUpload' ? { status: 504 } : {});
      return;
    }
    if (route === 's3Put') sim.injectS3SlowDown(1);
    else if (route === 'registerUpload' && flip++ % 2 === 1)
      sim.injectRateLimit(route, { retryAfterSeconds: 1 });
    else sim.faults.enqueue({ route, status: route === 'confirmUpload' ? 500 : 503 });
  };
  sim.on('request', onRequest);
  return { injected, stop: () => sim.off('request', onRequest) };
}

function figures(
  sim: V7DarwinSimulator,
  dataset: string,
  sizes: Map<string, number>,
  injected: Record<string, number>,
): Omit<ClientFigures, 'ms' | 'lost'> {
  const stats = sim.stats();
  const items = stats.items.filter((i) => i.dataset === dataset);
  const done = items.filter((i) => i.slots[0]?.status === 'complete');
  const routes = Object.fromEntries(
    ROUTES.map((r) => [r, { requests: stats.routes[r]?.requests ?? 0, injected: injected[r] ?? 0 }]),
  );
  return {
    delivered: done.length,
    deliveredBytes: done.reduce((n, i) => n + (sizes.get(i.name) ?? 0), 0),
    bytesSent: items.reduce((n, i) => n + i.bytesPut, 0),
    requests: ROUTES.reduce((n, r) => n + (stats.routes[r]?.requests ?? 0), 0),
    routes,
    registerCallsMax: Math.max(0, ...items.map((i) => i.registerCalls)),
  };
}

/** The relay: PutObject each file into the ingest bucket and wait until every record is final. */
async function runRelay(
  relay: BenchRelay,
  opts: V7BenchOptions,
  files: Array<{ key: string; body: Buffer }>,
) {
  const sim = relay.v7;
  const inj = injectFailures(sim, opts.failureRate, 1);
  const sizes = new Map(files.map((f) => [f.key.slice(f.key.lastIndexOf('/') + 1), f.body.length]));
  const confirmed = () =>
    sim.items(V7_BENCH.team, V7_BENCH.datasets.relay).filter((i) => i.slots[0]?.status === 'complete').length;
  try {
    const t0 = Date.now();
    const objs = await pool(files, opts.uploadConcurrency, (f) => putObject(relay.stack, f.key, f.body));
    const settled = await waitSettled(relay.stack, objs, {
      ready: () => confirmed() >= files.length,
      progress: confirmed,
      deadlineMs: 600_000,
      stallMs: 30_000,
    });
    const at = settled.records.map((r) => reachedAt(r, ['UPLOADED']) ?? Number.NaN).filter(Number.isFinite);
    const notUploaded = settled.records.filter((r) => r.status !== 'UPLOADED');
    return {
      ...figures(sim, V7_BENCH.datasets.relay, sizes, inj.injected),
      ms: Math.max(...at) - t0,
      lost: notUploaded.length ? statusCounts(notUploaded) : 'none',
      statuses: statusCounts(settled.records),
      retried: settled.records.filter((r) => r.history.some((h) => h.status === 'RETRYING')).length,
    };
  } finally {
    inj.stop();
  }
}

class RequestFailed extends Error {}

/**
 * darwin-py 3.5.3's `dataset push`, as the contract describes it (§2.1): register 500 per call; then per file
 * sign → PUT → confirm in a pool. Every API request is retried on 429 and 5xx (tenacity,
 * `wait_exponential_jitter`, Retry-After not read); a connection error is not retried. The PUT is retried on
 * 503 only (here with the whole body again; darwin-py re-sends a consumed stream). A failed file is pushed
 * again from register, where V7 answers ALREADY_EXISTS if its first register went through: darwin-py reports
 * it "skipped".
 */
async function runDarwinPy(url: string, opts: V7BenchOptions, files: Array<{ name: string; body: Buffer }>) {
  const d = opts.darwinPy;
  const team = V7_BENCH.team;
  const random = rng(99);
  const api = async (
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
  ): Promise<Record<string, unknown>> => {
    for (let attempt = 1; ; attempt++) {
      let status: number;
      let text: string;
      try {
        const res = await request(`${url}/api/v2/teams/${team}${path}`, {
          method,
          headers: { authorization: `ApiKey ${V7_BENCH.key}`, 'content-type': 'application/json' },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        });
        status = res.statusCode;
        text = await res.body.text();
      } catch (err) {
        throw new RequestFailed(`connection: ${(err as Error).message}`);
      }
      if (status >= 200 && status < 300) return JSON.parse(text || '{}') as Record<string, unknown>;
      if ((status === 429 && !text.includes('INSUFFICIENT_REMAINING_STORAGE')) || status >= 500) {
        if (attempt >= d.apiTries) throw new RequestFailed(`${status} after ${attempt} tries`);
        await sleep(Math.min(d.maxWaitMs, d.initialWaitMs * 2 ** (attempt - 1)) + random() * d.initialWaitMs);
        continue;
      }
      throw new RequestFailed(`${status}`);
    }
  };
  const uploadOne = async (uploadId: string, body: Buffer): Promise<string | undefined> => {
    let signed: Record<string, unknown>;
    try {
      signed = await api('GET', `/items/uploads/${uploadId}/sign`);
    } catch {
      return 'REQUEST_SIGNATURE';
    }
    try {
      for (let tries = 0; ; tries++) {
        const res = await request(String(signed.upload_url), { method: 'PUT', body });
        await res.body.dump();
        if (res.statusCode === 503 && tries + 1 < d.putTries) {
          await sleep(d.putWaitMs * 2 ** tries);
          continue;
        }
        if (res.statusCode >= 300) return 'UPLOAD_TO_S3';
        break;
      }
    } catch {
      return 'UPLOAD_TO_S3';
    }
    try {
      await api('POST', `/items/uploads/${uploadId}/confirm`, {});
    } catch {
      return 'CONFIRM_UPLOAD_COMPLETE';
    }
    return undefined;
  };

  const failedAt = new Map<string, string>();
  let skipped = 0;
  let todo = files;
  let pushes = 0;
  const t0 = Date.now();
  while (todo.length > 0 && pushes < d.pushes) {
    pushes++;
    const next: typeof files = [];
    for (let i = 0; i < todo.length; i += 500) {
      const chunk = todo.slice(i, i + 500);
      let answer: Record<string, unknown>;
      try {
        answer = await api('POST', '/items/register_upload', {
          items: chunk.map((f) => ({
            slots: [{ file_name: f.name, slot_name: '0' }],
            name: f.name,
            path: '/',
          })),
          dataset_slug: V7_BENCH.datasets.darwinPy,
          options: { handle_as_slices: false },
        });
      } catch {
        for (const f of chunk) failedAt.set(f.name, 'REGISTER');
        next.push(...chunk);
        continue;
      }
      const blocked = (answer.blocked_items ?? []) as Array<{ name: string }>;
      skipped += blocked.length;
      const items = (answer.items ?? []) as Array<{ name: string; slots: Array<{ upload_id: string }> }>;
      const byName = new Map(chunk.map((f) => [f.name, f]));
      await pool(items, opts.uploadConcurrency, async (item) => {
        const f = byName.get(item.name);
        const uploadId = item.slots[0]?.upload_id;
        if (!f || !uploadId) return;
        const stage = await uploadOne(uploadId, f.body);
        if (stage) {
          failedAt.set(f.name, stage);
          next.push(f);
        } else failedAt.delete(f.name);
      });
    }
    todo = next;
  }
  return { ms: Date.now() - t0, failedAt, skipped, pushes };
}

export async function runV7Darwin(relay: BenchRelay, opts: V7BenchOptions): Promise<V7BenchResult> {
  const sim = relay.v7;
  const files = Array.from({ length: opts.files }, (_, i) => {
    const name = `SN-V${String(i).padStart(5, '0')}_20260105T081500Z.jpg`;
    return {
      name,
      key: `${V7_BENCH.asset}/cam-${i % 4}/${name}`,
      body: makeJpeg({ width: 64, height: 48, seed: 5000 + i, padToBytes: opts.fileBytes }),
    };
  });
  const sizes = new Map(files.map((f) => [f.name, f.body.length]));

  const relayFigures = await runRelay(relay, opts, files);

  // darwin-py, on a fresh simulator state, with the same injection.
  sim.reset();
  const inj = injectFailures(sim, opts.failureRate, 1);
  let dp: Awaited<ReturnType<typeof runDarwinPy>>;
  try {
    dp = await runDarwinPy(relay.v7.url, opts, files);
  } finally {
    inj.stop();
  }
  const dpFigures = figures(sim, V7_BENCH.datasets.darwinPy, sizes, inj.injected);
  const complete = new Set(
    sim
      .items(V7_BENCH.team, V7_BENCH.datasets.darwinPy)
      .filter((i) => i.slots[0]?.status === 'complete')
      .map((i) => i.name),
  );
  const lostStages = new Map<string, number>();
  for (const f of files) {
    if (complete.has(f.name)) continue;
    const stage = dp.failedAt.get(f.name) ?? 'unknown';
    lostStages.set(stage, (lostStages.get(stage) ?? 0) + 1);
  }
  return {
    files: opts.files,
    fileBytes: opts.fileBytes,
    relay: relayFigures,
    darwinPy: {
      ...dpFigures,
      ms: dp.ms,
      lost: lostStages.size
        ? `${[...lostStages].map(([s, n]) => `${n} failed at ${s}`).join(', ')}, then skipped (ALREADY_EXISTS) by the re-push`
        : 'none',
      skipped: dp.skipped,
      pushes: dp.pushes,
    },
  };
}
