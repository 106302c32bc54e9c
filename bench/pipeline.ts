/**
 * The benchmark's relay: the local stack (emulators + the real handlers) with two Instrumental simulators,
 * one per destination, an Edge Impulse simulator (section 7), and helpers to upload files and wait for their
 * delivery records.
 *
 * - `fast`: a simulator whose rate limit is far above anything the relay can reach (section 1, section 3),
 *   and the same limit on the relay's side (`rate_limit` of the transmit), so neither bucket is the bottleneck.
 * - `limited`: a simulator at its documented defaults (50 burst, 5/s) and the relay's default Instrumental
 *   limit (the plug-in's 50 / 5 per second), for section 2.
 *
 * The forwarder mapping runs the real `createForwarderHandler` behind a switch: section 3 diverts the one
 * message of its 50 MB file to a side queue, so that a child process (forward-child.ts) can forward it alone.
 * The Edge Impulse forwarder starts deferred (section 7 fills its queue first) with its plug-in's own settings.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { DataTransmit, RelayConfig } from '#domain/config/types.ts';
import type { DeliveryRecord } from '#domain/delivery.ts';
import { type DeliveryStatus, POLLABLE, SUCCESS, TERMINAL } from '#domain/status.ts';
import { putObject as putIngest, recordsOf as recordsOfObject } from '#local/ingest.ts';
import type { LambdaFunction } from '#local/lambda-context.ts';
import { forwarderTuning, type LocalHandlers, type LocalStack, startLocalStack } from '#local/stack.ts';
import { EdgeImpulseSimulator } from '#simulators/edge-impulse/index.ts';
import { InstrumentalSimulator, type InstrumentalSimulatorOptions } from '#simulators/instrumental/index.ts';
import type { V7DarwinSimulator } from '#simulators/v7-darwin/index.ts';
import { VENDORS } from '#vendors/registry.ts';
import { forwarderSettings, SETTINGS } from '../lib/settings.ts';
import type { AwsMeter } from './meter.ts';
import { V7_BENCH, v7Simulator, v7Stream, v7Transmit } from './v7-darwin.ts';

/** Obviously fake keys in Instrumental's format (one per simulator, so the two buckets never mix). */
export const BENCH_KEYS = {
  fast: 'bench-fast:bench:INST:V1:fake-fast-id:not-a-real-secret',
  limited: 'bench-limited:bench:INST:V1:fake-limited-id:not-a-real-secret',
} as const;

export const SECRETS = {
  fast: 'bench/instrumental-fast',
  limited: 'bench/instrumental-limited',
  ei: 'bench/edge-impulse',
} as const;

/**
 * Obviously fake Edge Impulse keys: the relay's (project 1) and the official uploader's method's (project 2),
 * so that each path meets an empty project (no duplicates of the other's files).
 */
export const EI_KEYS = {
  relay: 'ei_bench_relay_key_not_real',
  official: 'ei_bench_uploader_key_not_real',
} as const;
export const EI_PROJECTS = { relay: 1, official: 2 } as const;

/** Section 1's rate limit, on the simulator and on the relay: high enough never to be the bottleneck. */
export const UNLIMITED = { burst: 100_000, perSecond: 100_000 } as const;

/** Forwarder event source mapping used for every section. */
export const FORWARDER_TUNING = { maxConcurrency: 4, batchSize: 10 } as const;

/** Key layout of both streams: `<asset>/{station}/{serial}_{taken_at}.{ext}`. */
export const STREAM_ASSETS = { fast: 'line-1', limited: 'line-2', ei: 'line-4' } as const;

/** Statuses that mean "the vendor accepted the upload" (PENDING_VALIDATION or beyond). */
export const ACCEPTED: readonly DeliveryStatus[] = [...POLLABLE, ...SUCCESS, 'FAILED_VALIDATION'];
/** Final statuses that mean "never accepted". */
export const NOT_ACCEPTED: readonly DeliveryStatus[] = TERMINAL.filter((s) => !ACCEPTED.includes(s));

export const INSTRUMENTAL_FIELDS = {
  serialNumber: '{serial}',
  stationName: '{station}',
  imageType: 'Top',
  imageTimestamp: { iso8601Time: '{taken_at|iso8601}', ianaTimeZone: 'UTC' },
  fileName: '{object.basename}',
} as const;

/** Edge Impulse fields of section 7: the label is the key's verdict folder, one metadata value per line. */
export const EI_FIELDS = { label: '{verdict}', metadata: { line: '{stream.asset}' } } as const;

function benchConfig(fastUrl: string, limitedUrl: string, v7Url: string, eiUrl: string): RelayConfig {
  const stream = (asset: string) => ({
    asset,
    stream_type: 'aoi-camera',
    key_pattern: `${asset}/{station}/{serial}_{taken_at}.{ext}`,
    required: ['serial', 'station'],
  });
  const transmit = (name: string, asset: string, url: string, secret: string): DataTransmit => ({
    transmit_name: name,
    transmit_type: 'instrumental',
    filter_stream: [`${asset}:aoi-camera`],
    base_url: url,
    api_key_secret: secret,
    fields: { ...INSTRUMENTAL_FIELDS, imageTimestamp: { ...INSTRUMENTAL_FIELDS.imageTimestamp } },
  });
  return {
    version: 1,
    data_receiver: [
      {
        data_receiver_name: 'bench-bucket',
        protocol: 's3',
        streams: [
          stream(STREAM_ASSETS.fast),
          stream(STREAM_ASSETS.limited),
          v7Stream(),
          {
            asset: STREAM_ASSETS.ei,
            stream_type: 'aoi-camera',
            key_pattern: `${STREAM_ASSETS.ei}/{verdict}/{serial}_{taken_at}.{ext}`,
          },
        ],
      },
    ],
    data_transmit: [
      {
        ...transmit('bench-fast', STREAM_ASSETS.fast, fastUrl, SECRETS.fast),
        rate_limit: { burst: UNLIMITED.burst, per_second: UNLIMITED.perSecond },
      },
      // No rate_limit: the relay uses the plug-in's documented Instrumental limit (50 burst, 5/s).
      transmit('bench-limited', STREAM_ASSETS.limited, limitedUrl, SECRETS.limited),
      v7Transmit(v7Url),
      {
        transmit_name: 'bench-ei',
        transmit_type: 'edge-impulse',
        filter_stream: [`${STREAM_ASSETS.ei}:aoi-camera`],
        base_url: eiUrl,
        api_key_secret: SECRETS.ei,
        options: { category: 'training' },
        fields: { ...EI_FIELDS, metadata: { ...EI_FIELDS.metadata } },
      },
    ],
  };
}

/** Sends the records whose body `match`es to `queueUrl` instead of forwarding them (section 3). */
export interface Diversion {
  match(body: string): boolean;
  queueUrl: string;
  /** Called after each diverted message is on the side queue. */
  onDiverted(): void;
}

export interface ForwarderSwitch {
  divert?: Diversion;
  /** Set once the stack is up: sends a raw body to a queue. */
  send?: (queueUrl: string, body: string) => Promise<void>;
}

function switchedForwarder(sw: ForwarderSwitch): LocalHandlers['forwarder'] {
  return (vendorId, queue) => {
    let real: LambdaFunction<SQSEvent> | undefined;
    return async (event: SQSEvent, context) => {
      let records = event.Records;
      const d = sw.divert;
      if (d && sw.send) {
        const moving = records.filter((r) => d.match(r.body));
        for (const r of moving) {
          await sw.send(d.queueUrl, r.body);
          d.onDiverted();
        }
        records = records.filter((r) => !d.match(r.body));
        if (records.length === 0) return { batchItemFailures: [] } satisfies SQSBatchResponse;
      }
      // Imported on first use, after the stack has set the environment (as the stack itself does).
      if (!real) {
        const mod = await import('../lambdas/handlers/forwarder.ts');
        real = mod.createForwarderHandler(vendorId, queue) as unknown as LambdaFunction<SQSEvent>;
      }
      return real({ Records: records }, context);
    };
  };
}

export interface BenchRelay {
  stack: LocalStack;
  fast: InstrumentalSimulator;
  limited: InstrumentalSimulator;
  v7: V7DarwinSimulator;
  ei: EdgeImpulseSimulator;
  forwarderSwitch: ForwarderSwitch;
  stop(): Promise<void>;
}

/**
 * The real router, poller and callback, imported on first use (after the stack has set the environment) and,
 * with a meter, metered (meter.ts: their AWS calls and durations; the forwarder is wrapped the same way).
 */
function meteredHandlers(sw: ForwarderSwitch, meter: AwsMeter | undefined): Partial<LocalHandlers> {
  const memory = {
    router: SETTINGS.router.memoryMb,
    poller: SETTINGS.poller.memoryMb,
    callback: SETTINGS.callback.memoryMb,
  };
  const forwarder = switchedForwarder(sw);
  if (!meter) return { forwarder };
  const lazy = <E>(fn: keyof typeof memory, load: () => Promise<LambdaFunction<E>>): LambdaFunction<E> => {
    let real: LambdaFunction<E> | undefined;
    return meter.handler(fn, memory[fn], async (event: E, context: Context) => {
      real ??= await load();
      return real(event, context);
    }) as LambdaFunction<E>;
  };
  return {
    router: lazy<SQSEvent>(
      'router',
      async () => (await import('../lambdas/handlers/router.ts')).handler as LambdaFunction<SQSEvent>,
    ),
    poller: lazy<unknown>(
      'poller',
      async () => (await import('../lambdas/handlers/poller.ts')).handler as LambdaFunction<unknown>,
    ),
    callback: lazy<APIGatewayProxyEventV2>(
      'callback',
      async () =>
        (await import('../lambdas/handlers/callback.ts')).handler as LambdaFunction<APIGatewayProxyEventV2>,
    ),
    forwarder: (vendorId, queue) =>
      meter.handler(
        'forwarder',
        forwarderSettings(VENDORS[vendorId]).memoryMb,
        forwarder(vendorId, queue),
      ) as LambdaFunction<SQSEvent>,
  };
}

export async function startBenchRelay(meter?: AwsMeter): Promise<BenchRelay> {
  const common: InstrumentalSimulatorOptions = { seed: 7, maxRecorded: 100_000 };
  const fast = new InstrumentalSimulator({
    ...common,
    apiKeys: [BENCH_KEYS.fast],
    burst: UNLIMITED.burst,
    refillPerSecond: UNLIMITED.perSecond,
  });
  // Documented defaults: 50 burst, 5/s, 2 s validation.
  const limited = new InstrumentalSimulator({ ...common, apiKeys: [BENCH_KEYS.limited] });
  const v7 = v7Simulator();
  const ei = new EdgeImpulseSimulator({
    seed: 7,
    maxRecorded: 100_000,
    apiKeys: {
      [EI_KEYS.relay]: { projectId: EI_PROJECTS.relay },
      [EI_KEYS.official]: { projectId: EI_PROJECTS.official },
    },
  });
  const stopSims = async () => {
    await Promise.allSettled([fast.stop(), limited.stop(), v7.stop(), ei.stop()]);
  };
  try {
    const [fastUrl, limitedUrl, v7Url, eiUrl] = await Promise.all([
      fast.start(),
      limited.start(),
      v7.start(),
      ei.start(),
    ]);
    const forwarderSwitch: ForwarderSwitch = {};
    const stack = await startLocalStack({
      config: benchConfig(fastUrl, limitedUrl, v7Url, eiUrl),
      secrets: {
        [SECRETS.fast]: BENCH_KEYS.fast,
        [SECRETS.limited]: BENCH_KEYS.limited,
        [V7_BENCH.secret]: V7_BENCH.key,
        [SECRETS.ei]: EI_KEYS.relay,
      },
      // Errors only: section 2's 429s would otherwise print one "will retry" line each.
      logLevel: 'error',
      forwarder: FORWARDER_TUNING,
      // Edge Impulse keeps its plug-in's batching (1000 files, its window); section 7 starts it.
      forwarders: { 'edge-impulse': forwarderTuning('edge-impulse') },
      deferForwarders: ['edge-impulse'],
      handlers: meteredHandlers(forwarderSwitch, meter),
    });
    forwarderSwitch.send = async (queueUrl, body) => {
      await stack.clients.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
    };
    return {
      stack,
      fast,
      limited,
      v7,
      ei,
      forwarderSwitch,
      async stop() {
        try {
          await stack.stop();
        } finally {
          await stopSims();
        }
      },
    };
  } catch (err) {
    await stopSims();
    throw err;
  }
}

export interface Uploaded {
  key: string;
  size: number;
  /** When the PutObject (or multipart upload) completed, ms since epoch. */
  doneAt: number;
  versionId?: string;
  etag: string;
}

/** One object as a factory sync would put it (local/ingest.ts), noting when the put finished. */
export async function putObject(stack: LocalStack, key: string, body: Buffer): Promise<Uploaded> {
  const put = await putIngest(stack.clients.s3, stack.buckets.ingest, key, body);
  const u: Uploaded = { key, size: body.length, doneAt: Date.now(), etag: put.etag };
  if (put.versionId) u.versionId = put.versionId;
  return u;
}

/** Runs `fn` over `items` with at most `limit` in flight; answers results in input order. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>) {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** The object's records (one per destination), by partition key: a Query, never a Scan. */
export function recordsOf(stack: LocalStack, obj: Uploaded): Promise<DeliveryRecord[]> {
  return recordsOfObject(stack.clients.ddb, stack.tableName, { bucket: stack.buckets.ingest, ...obj });
}

export interface Settled {
  /** Per object, its delivery record once accepted or failed for good. */
  records: DeliveryRecord[];
  /** When the record first reached an accepted status (from its history), ms since epoch. */
  acceptedAtMs: number[];
  /** Objects that ended REJECTED / DEAD / FAILED. */
  failed: DeliveryRecord[];
}

/** When the record first reached one of `statuses` (from its history), ms since epoch. */
export function reachedAt(rec: DeliveryRecord, statuses: readonly DeliveryStatus[]): number | undefined {
  const h = rec.history.find((x) => x.status !== 'NOTICE' && statuses.includes(x.status));
  return h ? Date.parse(h.at) : undefined;
}

const acceptedAt = (rec: DeliveryRecord) => reachedAt(rec, ACCEPTED);

/** The p-th percentile (0..1, nearest rank) of `values`. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number;
}

const settled = (recs: DeliveryRecord[]) =>
  recs.length > 0 && recs.every((r) => ACCEPTED.includes(r.status) || NOT_ACCEPTED.includes(r.status));

/**
 * Waits until every object's record is accepted by the vendor (or failed for good). To keep the table quiet
 * while the relay works, it first waits on `ready()` (e.g. the simulator has stored as many files) or until
 * nothing has changed for `stallMs`, then confirms every record with one Query each.
 */
export async function waitSettled(
  stack: LocalStack,
  objs: Uploaded[],
  opts: { ready: () => boolean; progress: () => number; deadlineMs: number; stallMs?: number },
): Promise<Settled> {
  const deadline = Date.now() + opts.deadlineMs;
  const stallMs = opts.stallMs ?? 3_000;
  let last = opts.progress();
  let lastChange = Date.now();
  while (!opts.ready() && Date.now() < deadline) {
    await sleep(50);
    const p = opts.progress();
    if (p !== last) {
      last = p;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > stallMs) break;
  }
  const done = new Map<number, DeliveryRecord>();
  for (;;) {
    const pending = objs.map((o, i) => ({ o, i })).filter(({ i }) => !done.has(i));
    await pool(pending, 4, async ({ o, i }) => {
      const recs = await recordsOf(stack, o);
      if (settled(recs)) done.set(i, recs[0] as DeliveryRecord);
    });
    if (done.size === objs.length) break;
    if (Date.now() > deadline) {
      throw new Error(
        `gave up waiting: ${objs.length - done.size} of ${objs.length} records not accepted after ${opts.deadlineMs} ms`,
      );
    }
    await sleep(250);
  }
  const records = objs.map((_, i) => done.get(i) as DeliveryRecord);
  return {
    records,
    acceptedAtMs: records.map(acceptedAt).filter((t): t is number => t !== undefined),
    failed: records.filter((r) => NOT_ACCEPTED.includes(r.status)),
  };
}

/** Counts of each status among records. */
export function statusCounts(records: DeliveryRecord[]): string {
  const counts = new Map<string, number>();
  for (const r of records) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  return [...counts].map(([s, n]) => `${s} ${n}`).join(', ');
}
