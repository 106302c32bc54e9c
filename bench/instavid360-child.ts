/**
 * Section 7's measurement, in its own process: the handlers of a local stack are module singletons built from
 * the environment of the first stack a process starts, so InstaVid360's stack (its own config, simulators and
 * poller period) runs here. Started by bench/instavid360.ts; settings in BENCH_IV_SETTINGS (JSON); sends one
 * IPC message with the figures and exits.
 *
 * 1. The same LPA photos to two destinations on two identical simulators (tasks take `taskMs`): one gives the
 *    vendor a callback_url, the other polls only. Per task: the simulator's `complete` moment → the record's
 *    COMPLETED moment, and the status requests the simulator received per completed task.
 * 2. Real deliveries (callbacks on, 1 s tasks) in alternating rounds without and with a flood of forged
 *    callbacks on the HTTP API (base, flood, base, flood, …): per photo, its PutObject done → COMPLETED,
 *    pooled per kind of round, so that the machine's drift between rounds weighs on both alike.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { type DeliveryRecord, encodeDeliveryId } from '#domain/delivery.ts';
import { makeJpeg } from '#simulators/media/index.ts';
import { type IvHarness, startIvHarness, type Uploaded } from '../test/e2e/instavid360-harness.ts';
import { percentile, pool, reachedAt } from './pipeline.ts';

export interface IvBenchSettings {
  /** Photos per destination in part 1, and per round in part 2. */
  photos: number;
  /** Creation → complete, at the simulators of part 1. */
  taskMs: number;
  /** The poller's period (the deployed schedule: 60 s). */
  pollEveryMs: number;
  forged: number;
  forgedConcurrency: number;
  uploadConcurrency: number;
  /** Rounds of each kind in part 2 (alternating). */
  rounds: number;
}

export interface Spread {
  n: number;
  p50: number;
  p95: number;
  max: number;
  mean: number;
}

export interface IvBenchReport {
  settings: IvBenchSettings;
  stackMs: number;
  callbacks: { latency: Spread; statusPerTask: number; completed: number };
  polling: { latency: Spread; statusPerTask: number; completed: number };
  flood: {
    /** Every photo of the rounds without a flood, pooled. */
    base: Spread;
    /** Every photo of the rounds during a flood, pooled. */
    during: Spread;
    /** Each round's p50, in the order they ran (base, flood, base, flood, …). */
    roundP50s: number[];
    /** During vs without, on the pooled medians. */
    slowdown: number;
    /** During vs without, on the pooled means. */
    slowdownMean: number;
    /** Forged callbacks per flood round. */
    forgedSent: number;
    forgedStatuses: Record<string, number>;
    /** Mean duration of one flood. */
    floodMs: number;
    /** Vendor requests per delivery (forged callbacks must add none). */
    vendorRequestsPerDelivery: { base: number; during: number };
  };
}

const spread = (values: number[]): Spread => ({
  n: values.length,
  p50: percentile(values, 0.5),
  p95: percentile(values, 0.95),
  max: percentile(values, 1),
  mean: values.reduce((a, b) => a + b, 0) / Math.max(1, values.length),
});

let serial = 0;
async function uploadPhotos(h: IvHarness, dest: string, n: number, concurrency: number) {
  const items = Array.from({ length: n }, () => ++serial);
  return pool(items, concurrency, async (s) => {
    const obj = await h.upload(
      `${dest}/gate-1/VIN-${String(s).padStart(6, '0')}_20260105T081500Z.jpg`,
      makeJpeg({ width: 320, height: 240, seed: s }),
    );
    return { obj, doneAt: Date.now() };
  });
}

async function completed(h: IvHarness, objs: Uploaded[]): Promise<DeliveryRecord[]> {
  return Promise.all(objs.map((o) => h.settled(o, undefined, 10 * 60_000)));
}

async function part1(h: IvHarness, s: IvBenchSettings) {
  const sent = await Promise.all(
    ['iv-callbacks', 'iv-polling'].map((d) => uploadPhotos(h, d, s.photos, s.uploadConcurrency)),
  );
  const [cb, po] = await Promise.all(
    sent.map((list) =>
      completed(
        h,
        list.map((x) => x.obj),
      ),
    ),
  );
  const measure = (dest: string, recs: DeliveryRecord[]) => {
    const sim = h.sims[dest];
    if (!sim) throw new Error(`no simulator for ${dest}`);
    const done = recs.filter((r) => r.status === 'COMPLETED');
    const lat = done.flatMap((r) => {
      const completeAt = sim.getTask(r.vendorRef ?? '')?.history.find((x) => x.status === 'complete')?.at;
      const recordedAt = reachedAt(r, ['COMPLETED']);
      return completeAt && recordedAt ? [recordedAt - Date.parse(completeAt)] : [];
    });
    return {
      latency: spread(lat),
      statusPerTask: sim.requestsTo('taskStatus').length / Math.max(1, done.length),
      completed: done.length,
    };
  };
  return { callbacks: measure('iv-callbacks', cb ?? []), polling: measure('iv-polling', po ?? []) };
}

async function round(h: IvHarness, s: IvBenchSettings, flood?: () => Promise<void>) {
  const sim = h.sims['iv-flood'];
  const before = sim?.requests.length ?? 0;
  const floodRun = flood?.();
  const sent = await uploadPhotos(h, 'iv-flood', s.photos, s.uploadConcurrency);
  const recs = await completed(
    h,
    sent.map((x) => x.obj),
  );
  await floodRun;
  const lat = recs.flatMap((r, i) => {
    const at = reachedAt(r, ['COMPLETED']);
    return at ? [at - (sent[i]?.doneAt ?? at)] : [];
  });
  return {
    latency: spread(lat),
    samples: lat,
    vendorRequests: ((sim?.requests.length ?? 0) - before) / s.photos,
  };
}

async function main(): Promise<void> {
  const s = JSON.parse(process.env.BENCH_IV_SETTINGS ?? '{}') as IvBenchSettings;
  const t0 = Date.now();
  const slow = { processingAfterMs: 1_000, completeAfterMs: s.taskMs };
  const h = await startIvHarness(
    [
      { name: 'iv-callbacks', options: { task: 'lpa' }, sim: slow },
      { name: 'iv-polling', options: { task: 'lpa', callbacks: false }, sim: slow },
      { name: 'iv-flood', options: { task: 'lpa' }, sim: { processingAfterMs: 200, completeAfterMs: 1_000 } },
    ],
    { pollEveryMs: s.pollEveryMs, logLevel: 'error' },
  );
  try {
    const stackMs = Date.now() - t0;
    const p1 = await part1(h, s);

    // Part 2: warm the flood destination first (cold handlers would make the first round look slow).
    await round(h, { ...s, photos: 3 });
    const statuses: Record<string, number> = {};
    const floodTimes: number[] = [];
    const flood = async () => {
      const started = Date.now();
      const ids = Array.from({ length: 16 }, () =>
        encodeDeliveryId({
          pk: `object#bench/${randomBytes(6).toString('hex')}.jpg#v=1`,
          sk: 'destination#iv-flood',
        }),
      );
      await pool(
        Array.from({ length: s.forged }, (_, i) => i),
        s.forgedConcurrency,
        async (i) => {
          const token = `${ids[i % ids.length]}.${randomBytes(16).toString('base64url')}`;
          const res = await request(h.stack.callbackUrl('instavid360', token), {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: '{"data":{"status":"complete"}}',
          });
          await res.body.dump();
          statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
        },
      );
      floodTimes.push(Date.now() - started);
    };
    const base: Array<Awaited<ReturnType<typeof round>>> = [];
    const during: Array<Awaited<ReturnType<typeof round>>> = [];
    const roundP50s: number[] = [];
    for (let i = 0; i < s.rounds; i++) {
      const b = await round(h, s);
      const d = await round(h, s, flood);
      base.push(b);
      during.push(d);
      roundP50s.push(b.latency.p50, d.latency.p50);
    }
    const pooled = (rs: typeof base) => spread(rs.flatMap((r) => r.samples));
    const requests = (rs: typeof base) =>
      rs.reduce((n, r) => n + r.vendorRequests, 0) / Math.max(1, rs.length);
    const b = pooled(base);
    const d = pooled(during);
    const report: IvBenchReport = {
      settings: s,
      stackMs,
      ...p1,
      flood: {
        base: b,
        during: d,
        roundP50s,
        slowdown: d.p50 / b.p50 - 1,
        slowdownMean: d.mean / b.mean - 1,
        forgedSent: s.forged,
        forgedStatuses: statuses,
        floodMs: floodTimes.reduce((a, x) => a + x, 0) / Math.max(1, floodTimes.length),
        vendorRequestsPerDelivery: { base: requests(base), during: requests(during) },
      },
    };
    process.send?.(report);
  } finally {
    await h.stop();
  }
}

await main();
