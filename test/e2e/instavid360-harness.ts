/**
 * End-to-end harness for InstaVid360: the local stack (emulators + the real handlers) with one InstaVid360
 * simulator per destination, a bucket of brand assets (backgrounds, overlays), and helpers to upload photos,
 * wait for their records and read the results bucket. One stream per destination (`<destination>/{station}/
 * {serial}_{taken_at}.{ext}`), so each test file routes photos where it wants them.
 */
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import type { DataTransmit, RelayConfig } from '#domain/config/types.ts';
import type { DeliveryRecord } from '#domain/delivery.ts';
import { type DeliveryStatus, isTerminal } from '#domain/status.ts';
import { putObject } from '#local/ingest.ts';
import type { ObjectCreated } from '#local/s3-hooks.ts';
import { type LocalStack, type LocalStackOptions, startLocalStack } from '#local/stack.ts';
import { type InstaVid360Options, InstaVid360Simulator } from '#simulators/instavid360/index.ts';
import type { JsonObject } from '#vendors/types.ts';
import { type StackHelpers, stackHelpers, type Uploaded } from './harness.ts';

/** Obviously fake InstaVid360 personal token. */
export const IV_TOKEN = 'relay-e2e-instavid-token-not-real';
export const IV_SECRET = 'relay-tests/instavid360';
export const ASSETS_BUCKET = 'brand-assets';

export interface IvDestination {
  name: string;
  options: JsonObject;
  fields?: JsonObject;
  sim?: InstaVid360Options;
}

export type { Uploaded };

/** `upload`, `records(obj)`, `waitFor(obj, done, timeoutMs)` (every 100 ms, default 20 s): stackHelpers. */
export interface IvHarness extends StackHelpers {
  stack: LocalStack;
  sims: Record<string, InstaVid360Simulator>;
  /** Puts a background or overlay into the assets bucket: `s3://brand-assets/<key>`. */
  putAsset(key: string, body: Buffer): Promise<string>;
  /** The object's one record, once it is in one of `statuses` (default: any final status). */
  settled(obj: Uploaded, statuses?: DeliveryStatus[], timeoutMs?: number): Promise<DeliveryRecord>;
  /** Every object the relay wrote to the results bucket, in order (one entry per write). */
  resultWrites: ObjectCreated[];
  readResult(key: string): Promise<{ body: Buffer; metadata: Record<string, string>; contentType?: string }>;
  stop(): Promise<void>;
}

export function ivConfig(urls: Record<string, string>, destinations: IvDestination[]): RelayConfig {
  return {
    version: 1,
    relay: { max_attempts: 6, backoff_base_seconds: 0.2, backoff_max_seconds: 1, pause_probe_seconds: 1 },
    data_receiver: [
      {
        data_receiver_name: 'factory-bucket',
        protocol: 's3',
        streams: destinations.map((d) => ({
          asset: d.name,
          stream_type: 'camera',
          key_pattern: `${d.name}/{station}/{serial}_{taken_at}.{ext}`,
          sidecar: { mode: 'append' as const, suffix: '.json', required: false, wait_seconds: 0 },
          required: ['serial'],
        })),
      },
    ],
    data_transmit: destinations.map(
      (d): DataTransmit => ({
        transmit_name: d.name,
        transmit_type: 'instavid360',
        filter_stream: [`${d.name}:camera`],
        base_url: urls[d.name] ?? '',
        api_key_secret: IV_SECRET,
        // The vendor's 60/min would make these tests take minutes: the simulators are unlimited too.
        rate_limit: { burst: 1000, per_second: 1000 },
        options: d.options,
        fields: d.fields ?? { meta: { serial: '{serial}', station: '{station}' } },
      }),
    ),
  };
}

export async function startIvHarness(
  destinations: IvDestination[],
  stackOptions: LocalStackOptions = {},
): Promise<IvHarness> {
  const sims: Record<string, InstaVid360Simulator> = {};
  const urls: Record<string, string> = {};
  const stopSims = () => Promise.allSettled(Object.values(sims).map((s) => s.stop()));
  try {
    for (const d of destinations) {
      const sim = new InstaVid360Simulator({
        tokens: { [IV_TOKEN]: { user: `relay-e2e-${d.name}` } },
        requestsPerMinute: Number.POSITIVE_INFINITY,
        processingAfterMs: 200,
        completeAfterMs: 1_200,
        maxRecorded: 100_000,
        ...d.sim,
      });
      sims[d.name] = sim;
      urls[d.name] = await sim.start();
    }
  } catch (err) {
    await stopSims();
    throw err;
  }
  let stack: LocalStack;
  try {
    stack = await startLocalStack({
      config: ivConfig(urls, destinations),
      secrets: { [IV_SECRET]: IV_TOKEN },
      pollEveryMs: 250,
      // No batching window: the tests follow single photos (the deployed router waits up to 5 s to batch).
      router: { maximumBatchingWindowMs: 0 },
      logLevel: 'warn',
      ...stackOptions,
    });
  } catch (err) {
    await stopSims();
    throw err;
  }
  const { s3 } = stack.clients;
  await s3.send(new CreateBucketCommand({ Bucket: ASSETS_BUCKET }));
  const resultWrites: ObjectCreated[] = [];
  stack.emulators.s3Events.on('objectCreated', (e) => {
    if (e.bucket === stack.buckets.results) resultWrites.push(e);
  });

  const helpers = stackHelpers(stack);
  const { waitFor } = helpers;
  return {
    stack,
    sims,
    ...helpers,
    async putAsset(key, body) {
      await putObject(s3, ASSETS_BUCKET, key, body);
      return `s3://${ASSETS_BUCKET}/${key}`;
    },
    async settled(obj, statuses, timeoutMs = 60_000) {
      const want = (s: DeliveryStatus) => (statuses ? statuses.includes(s) : isTerminal(s));
      const [rec] = await waitFor(
        obj,
        (r) => r.length === 1 && want((r[0] as DeliveryRecord).status),
        timeoutMs,
      );
      return rec as DeliveryRecord;
    },
    resultWrites,
    async readResult(key) {
      const head = await s3.send(new HeadObjectCommand({ Bucket: stack.buckets.results, Key: key }));
      const out = await s3.send(new GetObjectCommand({ Bucket: stack.buckets.results, Key: key }));
      return {
        body: Buffer.from((await out.Body?.transformToByteArray()) ?? []),
        metadata: head.Metadata ?? {},
        ...(head.ContentType ? { contentType: head.ContentType } : {}),
      };
    },
    async stop() {
      await stack.stop();
      await stopSims();
    },
  };
}

/** vendorDetail is written by the core (FinishUpdate/CheckUpdate `detail`), not part of the typed record. */
export function detailOf(rec: DeliveryRecord): JsonObject {
  return ((rec as unknown as { vendorDetail?: JsonObject }).vendorDetail ?? {}) as JsonObject;
}
