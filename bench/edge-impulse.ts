/**
 * Section 7: Edge Impulse. The forwarder stage (deliveries already on the Edge Impulse queue → outcomes
 * recorded) against the official uploader's method (GetObject, then one sample per request, 20 in parallel),
 * for the same images in the local bucket, against the same simulator with a WAN round trip added per request.
 *
 * The official uploader's method is written here as edge-impulse-cli 1.39.2 does it (cli/uploader.ts,
 * cli-common/make-image.ts): the file read whole into a Buffer, a FormData with one `data` part, headers
 * x-api-key, x-upload-source, x-label (URL-encoded), x-disallow-duplicates: 1, x-metadata, x-device-type, a new
 * undici Agent per request, `--concurrency` 20 (tiny-async-pool), and the answer's `files[i].success` checked.
 * Its Studio calls before the upload (project lookups) are left out: they do not depend on the file count.
 */

import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { BatchExecuteStatementCommand, BatchGetCommand, BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { Agent, FormData, fetch } from 'undici';
import { StatusTable } from '#adapters/dynamodb.ts';
import { deliveryKey } from '#domain/delivery.ts';
import type { InvocationEnd, InvocationStart } from '#local/runner.ts';
import { makeJpeg } from '#simulators/media/index.ts';
import type { ChildReport } from './forward-child.ts';
import { runChild } from './memory.ts';
import {
  type BenchRelay,
  EI_KEYS,
  EI_PROJECTS,
  pool,
  putObject,
  reachedAt,
  STREAM_ASSETS,
  statusCounts,
  type Uploaded,
  waitSettled,
} from './pipeline.ts';

export interface EdgeImpulseOptions {
  files: number;
  fileBytes: number;
  /** Added by the simulator to every ingestion request (a WAN round trip from a region to the vendor). */
  latencyMs: number;
  /** The official uploader's `--concurrency` default. */
  uploaderConcurrency: number;
  /** PutObjects in flight while filling the bucket (not measured). */
  uploadConcurrency: number;
  /** Share of the files in the `scratch` folder (label); the rest are `ok`. */
  scratchShare: number;
}

/** CPU seconds used while a path ran, by DynamoDB Local's JVM and by this Node process. */
export interface CpuUse {
  dynamodbLocalS: number;
  /** The relay's handlers, fauxqs (S3, SQS), the simulator and the official method's client: one process. */
  nodeS: number;
  wallS: number;
  cores: number;
}

export interface PathResult {
  ms: number;
  /** Undefined where /proc cannot be read. */
  cpu?: CpuUse;
  filesPerSec: number;
  requests: number;
  requestsPer1000: number;
  outcome: string;
}

/** First and last time of one kind of event in the relay's stage, ms after the mapping started. */
export interface Span {
  firstMs: number;
  lastMs: number;
}

/**
 * Where the relay's stage spent its time, from the records' own history and the simulator's request log, and
 * whose CPU it used: DynamoDB Local's JVM against this Node process (the relay's handlers, fauxqs, the simulator).
 */
export interface RelayTimeline {
  invocations: Span;
  claims: Span;
  requests: Span;
  outcomes: Span;
}

export interface EdgeImpulseResult {
  files: number;
  meanFileBytes: number;
  latencyMs: number;
  relay: PathResult & {
    invocations: number;
    meanFilesPerRequest: number;
    queuedMs: number;
    timeline: RelayTimeline;
  };
  official: PathResult;
  ratio: number;
}

const basename = (key: string) => key.slice(key.lastIndexOf('/') + 1);

function span(times: readonly number[], t0: number): Span {
  if (times.length === 0) return { firstMs: Number.NaN, lastMs: Number.NaN };
  return { firstMs: Math.min(...times) - t0, lastMs: Math.max(...times) - t0 };
}

/** A process's user + system CPU seconds from /proc (Linux), or undefined. */
function procCpuSeconds(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (in parentheses, which may hold spaces): utime is the 14th, stime the 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}
/** USER_HZ: 100 on every Linux the bench runs on (getconf CLK_TCK). */
const CLOCK_TICKS = 100;

/** Starts counting CPU; the function returned reads what was used since (undefined without /proc). */
function cpuSince(javaPid: number | undefined): () => CpuUse | undefined {
  const java0 = procCpuSeconds(javaPid);
  const node0 = process.cpuUsage();
  const t0 = performance.now();
  return () => {
    const java1 = procCpuSeconds(javaPid);
    const node = process.cpuUsage(node0);
    if (java0 === undefined || java1 === undefined) return undefined;
    return {
      dynamodbLocalS: java1 - java0,
      nodeS: (node.user + node.system) / 1e6,
      wallS: (performance.now() - t0) / 1000,
      cores: availableParallelism(),
    };
  };
}

function keyFor(i: number, opts: EdgeImpulseOptions): string {
  const scratch = i % Math.round(1 / opts.scratchShare) === 0;
  return `${STREAM_ASSETS.ei}/${scratch ? 'scratch' : 'ok'}/SN-E${String(i).padStart(5, '0')}_20260105T081500Z.jpg`;
}

/** The label and metadata the relay's config gives a key (bench/pipeline.ts EI_FIELDS), for the uploader. */
function labelOf(key: string): string {
  return key.split('/')[1] ?? '';
}

/** One file as edge-impulse-cli's `upload()` sends it (cli-common/make-image.ts). */
async function uploadLikeTheCli(
  url: string,
  filename: string,
  buffer: Uint8Array,
  label: string,
): Promise<boolean> {
  const headers: Record<string, string> = {
    'x-api-key': EI_KEYS.official,
    'x-upload-source': 'EDGE_IMPULSE_CLI_UPLOADER',
    Connection: 'keep-alive',
    'x-label': encodeURIComponent(label),
    'x-disallow-duplicates': '1',
    'x-metadata': JSON.stringify({ line: STREAM_ASSETS.ei }),
    'x-device-type': 'EDGE_IMPULSE_CLI',
  };
  const form = new FormData();
  form.append('data', new Blob([buffer], { type: 'image/jpeg' }), filename);
  const dispatcher = new Agent({ headersTimeout: 20 * 60_000, bodyTimeout: 20 * 60_000 });
  try {
    const res = await fetch(`${url}/api/training/files`, { method: 'POST', headers, body: form, dispatcher });
    const body = await res.text();
    if (res.status !== 200) return false;
    const msg = JSON.parse(body) as { success: boolean; files?: Array<{ success: boolean }> };
    return msg.success && (msg.files ?? []).every((f) => f.success);
  } finally {
    await dispatcher.close();
  }
}

async function officialUploader(
  relay: BenchRelay,
  objs: Uploaded[],
  concurrency: number,
): Promise<{ ms: number; failed: number }> {
  const { s3 } = relay.stack.clients;
  const url = relay.ei.url;
  let failed = 0;
  const t0 = performance.now();
  await pool(objs, concurrency, async (obj) => {
    const got = await s3.send(new GetObjectCommand({ Bucket: relay.stack.buckets.ingest, Key: obj.key }));
    const buffer = await got.Body?.transformToByteArray();
    if (!buffer) throw new Error(`GetObject ${obj.key}: no body`);
    if (!(await uploadLikeTheCli(url, basename(obj.key), buffer, labelOf(obj.key)))) failed++;
  });
  return { ms: performance.now() - t0, failed };
}

async function queueDepth(relay: BenchRelay): Promise<number> {
  const out = await relay.stack.clients.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: relay.stack.queueUrls['edge-impulse'],
      AttributeNames: ['ApproximateNumberOfMessages'],
    }),
  );
  return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0);
}

const ingestRequests = (relay: BenchRelay, projectId: number) =>
  relay.ei
    .requestsTo('ingestFiles')
    .filter((r) => r.details.projectId === projectId && r.outcome === 'answered').length;

export async function runEdgeImpulse(
  relay: BenchRelay,
  opts: EdgeImpulseOptions,
): Promise<EdgeImpulseResult> {
  const { stack, ei } = relay;
  // Distinct images (the simulator refuses duplicates by content): one padded JPEG, a counter in its tail.
  const base = makeJpeg({ width: 64, height: 48, seed: 9, padToBytes: opts.fileBytes });
  const bodies = Array.from({ length: opts.files }, (_, i) => {
    const b = Buffer.from(base);
    b.writeUInt32BE(i, b.length - 8);
    return b;
  });
  const keys = bodies.map((_, i) => keyFor(i, opts));
  ei.setFaults({ rules: [{ routes: ['ingestFiles'], latencyMs: opts.latencyMs }] });

  // The bucket is filled and every delivery routed onto the Edge Impulse queue before its forwarder runs.
  const tFill = Date.now();
  const objs = await pool(keys, opts.uploadConcurrency, (k, i) => putObject(stack, k, bodies[i] as Buffer));
  const deadline = Date.now() + 180_000;
  let depth = await queueDepth(relay);
  while (depth < opts.files && Date.now() < deadline) {
    await sleep(250);
    depth = await queueDepth(relay);
  }
  if (depth < opts.files) throw new Error(`only ${depth} of ${opts.files} deliveries reached the queue`);
  const queuedMs = Date.now() - tFill;

  // The forwarder stage: from starting the mapping to the last outcome recorded (its history timestamp).
  const invocations: number[] = [];
  const invokedAt: number[] = [];
  // The stage is over when its invocations have acknowledged every message: seen from the runner's events, so
  // that nothing polls the table while the forwarder writes to it (the records are read once, after).
  let running = 0;
  let acknowledged = 0;
  let stageOver: () => void = () => undefined;
  const over = new Promise<void>((resolve) => {
    stageOver = resolve;
  });
  let relayCpuUse: CpuUse | undefined;
  const relayCpu = cpuSince(stack.emulators.dynamodbPid);
  const onInvoke = (e: InvocationStart) => {
    if (e.functionName !== 'forwarder-edge-impulse') return;
    running++;
    invocations.push(e.records ?? 0);
    invokedAt.push(Date.now());
  };
  const onResult = (e: InvocationEnd) => {
    if (e.functionName !== 'forwarder-edge-impulse') return;
    running--;
    if (e.outcome !== 'failed' && e.outcome !== 'timeout')
      acknowledged += (e.records ?? 0) - (e.failedMessageIds?.length ?? 0);
    if (running === 0 && acknowledged >= opts.files) {
      relayCpuUse = relayCpu();
      stageOver();
    }
  };
  stack.runner.on('invoke', onInvoke);
  stack.runner.on('result', onResult);
  const relayRequestsBefore = ingestRequests(relay, EI_PROJECTS.relay);
  const t0 = Date.now();
  let settled: Awaited<ReturnType<typeof waitSettled>>;
  try {
    stack.startForwarder('edge-impulse');
    const deadline = AbortSignal.timeout(180_000);
    await Promise.race([over, once(deadline, 'abort')]);
    settled = await waitSettled(stack, objs, {
      ready: () => true,
      progress: () => ei.samples(EI_PROJECTS.relay).length,
      deadlineMs: 30_000,
    });
  } finally {
    stack.runner.off('invoke', onInvoke);
    stack.runner.off('result', onResult);
  }
  const ends = settled.records
    .map((r) => reachedAt(r, ['UPLOADED', 'ALREADY_PRESENT', 'REJECTED']))
    .filter((t): t is number => t !== undefined);
  const relayMs = Math.max(...ends) - t0;
  const timeline: RelayTimeline = {
    invocations: span(invokedAt, t0),
    claims: span(
      settled.records.map((r) => reachedAt(r, ['SENDING'])).filter((t): t is number => t !== undefined),
      t0,
    ),
    requests: span(
      ei
        .requestsTo('ingestFiles')
        .filter((r) => r.details.projectId === EI_PROJECTS.relay)
        .map((r) => Date.parse(r.at))
        .filter((t) => t >= t0),
      t0,
    ),
    outcomes: span(ends, t0),
  };
  const relayRequests = ingestRequests(relay, EI_PROJECTS.relay) - relayRequestsBefore;

  // The official uploader's method over the same objects, against the same simulator (another project).
  const officialCpu = cpuSince(stack.emulators.dynamodbPid);
  const official = await officialUploader(relay, objs, opts.uploaderConcurrency);
  const officialCpuUse = officialCpu();
  const officialRequests = ei
    .requestsTo('ingestFiles')
    .filter((r) => r.details.projectId === EI_PROJECTS.official).length;
  ei.setFaults({});

  const per1000 = (n: number) => (n * 1000) / opts.files;
  const relayFilesPerSec = (opts.files * 1000) / relayMs;
  const officialFilesPerSec = (opts.files * 1000) / official.ms;
  return {
    files: opts.files,
    meanFileBytes: bodies.reduce((n, b) => n + b.length, 0) / bodies.length,
    latencyMs: opts.latencyMs,
    relay: {
      ms: relayMs,
      filesPerSec: relayFilesPerSec,
      requests: relayRequests,
      requestsPer1000: per1000(relayRequests),
      outcome: statusCounts(settled.records),
      invocations: invocations.length,
      meanFilesPerRequest: opts.files / Math.max(1, relayRequests),
      queuedMs,
      timeline,
      ...(relayCpuUse ? { cpu: relayCpuUse } : {}),
    },
    official: {
      ms: official.ms,
      filesPerSec: officialFilesPerSec,
      requests: officialRequests,
      requestsPer1000: per1000(officialRequests),
      outcome: `${opts.files - official.failed} stored${official.failed ? `, ${official.failed} failed` : ''}`,
      ...(officialCpuUse ? { cpu: officialCpuUse } : {}),
    },
    ratio: relayFilesPerSec / officialFilesPerSec,
  };
}

export interface EdgeImpulseMemoryOptions {
  files: number;
  fileBytes: number;
  /** More environment for the child (bench/memory.ts MemoryOptions.env). */
  env?: Record<string, string>;
  /** The child runs with --expose-gc and collects this often: what the send keeps alive, not lazy garbage. */
  gcEveryMs?: number;
  functionTimeoutMs: number;
  /** Distinguishes this run's keys. */
  tag: string;
}

export interface EdgeImpulseMemoryResult {
  files: number;
  fileBytes: number;
  batchBytes: number;
  deltaBytes: number;
  peakArrayBuffersBytes: number;
  handlerMs: number;
  requests: number;
  stored: number;
  child: ChildReport;
}

/**
 * One forwarder invocation alone in a child process (forward-child.ts) takes a batch of Edge Impulse deliveries
 * from the queue and sends it: its peak RSS over its baseline, for batches of more files and of bigger files.
 * Runs before `runEdgeImpulse` starts the stack's own Edge Impulse forwarder (the queue is the child's).
 */
export async function runEdgeImpulseMemory(
  relay: BenchRelay,
  opts: EdgeImpulseMemoryOptions,
): Promise<EdgeImpulseMemoryResult> {
  const { stack, ei } = relay;
  const queue = stack.queues.vendors['edge-impulse'];
  if (!queue) throw new Error('no Edge Impulse queue in the stack');
  const base = makeJpeg({ width: 64, height: 48, seed: 10, padToBytes: opts.fileBytes });
  const keys = Array.from(
    { length: opts.files },
    (_, i) => `${STREAM_ASSETS.ei}/ok/SN-M${opts.tag}${String(i).padStart(4, '0')}_20260105T081500Z.jpg`,
  );
  await pool(keys, 10, (k, i) => {
    const b = Buffer.from(base);
    b.writeUInt32BE(i, b.length - 8);
    // Content unique to this run's tag, or Edge Impulse would refuse a file of an earlier run as a duplicate.
    b.writeUInt32BE(createHash('sha256').update(opts.tag).digest().readUInt32BE(0), b.length - 12);
    return putObject(stack, k, b);
  });
  const deadline = Date.now() + 120_000;
  while ((await queueDepth(relay)) < opts.files && Date.now() < deadline) await sleep(250);
  const requestsBefore = ingestRequests(relay, EI_PROJECTS.relay);
  const child = await runChild(
    {
      ...stack.env,
      BENCH_VENDOR: 'edge-impulse',
      BENCH_MESSAGES: String(opts.files),
      BENCH_QUEUE_URL: queue.url,
      BENCH_QUEUE_ARN: queue.arn,
      BENCH_DLQ_URL: queue.dlq.url,
      BENCH_TIMEOUT_MS: String(opts.functionTimeoutMs),
      ...opts.env,
      ...(opts.gcEveryMs ? { BENCH_GC_EVERY_MS: String(opts.gcEveryMs) } : {}),
    },
    opts.functionTimeoutMs + 60_000,
    opts.gcEveryMs ? ['--expose-gc'] : [],
  );
  if (child.error) throw new Error(`forward-child failed:\n${child.error}`);
  const names = new Set(keys.map(basename));
  const peak = child.sendHwmKiB !== undefined ? child.sendHwmKiB * 1024 : child.sampledPeakBytes;
  return {
    files: opts.files,
    fileBytes: base.length,
    batchBytes: base.length * opts.files,
    deltaBytes: peak - child.rssBeforeBytes,
    peakArrayBuffersBytes: child.sampledPeakArrayBuffersBytes,
    handlerMs: child.handlerMs,
    requests: ingestRequests(relay, EI_PROJECTS.relay) - requestsBefore,
    stored: ei.samples(EI_PROJECTS.relay).filter((s) => names.has(s.originalFileName)).length,
    child,
  };
}

export interface TableFloorResult {
  deliveries: number;
  claimMs: number;
  finishMs: number;
  /**
   * The same writes done the cheapest way DynamoDB offers, for the same number of fresh records: claims as
   * conditional PartiQL UPDATEs 25 to a BatchExecuteStatement, the claimed records read back 100 to a
   * BatchGetItem (what ALL_NEW gives the forwarder today), outcomes as whole-item puts 25 to a BatchWriteItem
   * (unconditional: no lease check). What batching the table's writes could save at most.
   */
  batched: { claimMs: number; readMs: number; finishMs: number };
}

/** `count` fresh QUEUED Edge Impulse delivery records under `prefix/` (not timed), as the router writes them. */
async function queuedDeliveries(relay: BenchRelay, prefix: string, count: number) {
  const doc = relay.stack.clients.relay.table;
  if (!doc) throw new Error('the stack has no DynamoDB');
  const table = new StatusTable(doc, relay.stack.tableName);
  const keys = await pool(
    Array.from({ length: count }, (_, i) => i),
    10,
    async (i) => {
      const object = {
        bucket: 'bench-floor',
        key: `${prefix}/${i}.jpg`,
        etag: `${prefix}-${i}`,
        size: 51_200,
      };
      const key = deliveryKey(object, 'bench-ei');
      await table.createDelivery({
        ...key,
        status: 'QUEUED',
        destination: 'bench-ei',
        vendor: 'edge-impulse',
        ...object,
        fields: { label: 'ok', metadata: { line: STREAM_ASSETS.ei } },
      });
      return key;
    },
  );
  return { table, keys };
}

/**
 * What the forwarder must write for `deliveries` files (a claim and an outcome each, as 5 invocations do at
 * once), timed alone against the same DynamoDB Local: the share of the forwarder stage that is the table's.
 */
export async function runTableFloor(relay: BenchRelay, deliveries: number): Promise<TableFloorResult> {
  const { table, keys } = await queuedDeliveries(relay, 'floor', deliveries);
  const slices = Array.from({ length: 5 }, (_, s) => keys.filter((_, i) => i % 5 === s));
  const t0 = performance.now();
  // As the forwarder does: each claim and each outcome its own conditional write, 16 of a group in flight.
  const eachOf = async <T>(items: readonly T[], fn: (item: T, i: number) => Promise<unknown>) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < items.length) {
          const i = next++;
          await fn(items[i] as T, i);
        }
      }),
    );
  };
  await Promise.all(slices.map((slice) => eachOf(slice, (key) => table.claim(key, 'bench-floor', 600_000))));
  const t1 = performance.now();
  await Promise.all(
    slices.map((slice) =>
      eachOf(slice, (key, i) =>
        table.finish(key, 'bench-floor', 'bench-ei', { status: 'UPLOADED', vendorRef: String(i) }),
      ),
    ),
  );
  const finishMs = performance.now() - t1;
  return { deliveries, claimMs: t1 - t0, finishMs, batched: await batchedFloor(relay, deliveries) };
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  return Array.from({ length: Math.ceil(items.length / size) }, (_, i) =>
    items.slice(i * size, (i + 1) * size),
  );
}

/** TableFloorResult.batched: the claims, reads and outcomes of `deliveries` fresh records, in batches. */
async function batchedFloor(relay: BenchRelay, deliveries: number): Promise<TableFloorResult['batched']> {
  const ddb = relay.stack.clients.ddb;
  if (!ddb) throw new Error('the stack has no DynamoDB');
  const name = relay.stack.tableName;
  const { keys } = await queuedDeliveries(relay, 'floor-batched', deliveries);
  const inFlight = async <T>(items: readonly T[], fn: (item: T) => Promise<void>) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: 5 }, async () => {
        while (next < items.length) await fn(items[next++] as T);
      }),
    );
  };
  const t0 = performance.now();
  const now = Date.now();
  await inFlight(chunks(keys, 25), async (batch) => {
    const out = await ddb.send(
      new BatchExecuteStatementCommand({
        Statements: batch.map((key) => ({
          Statement: `UPDATE "${name}" SET "status" = 'SENDING' SET "leaseOwner" = ? SET "leaseExpiresAt" = ? SET "updatedAt" = ? SET "nextCheckAt" = ? SET "attempts" = "attempts" + 1 WHERE "pk" = ? AND "sk" = ? AND "status" IN ['RECEIVED', 'QUEUED', 'HELD']`,
          Parameters: [
            'bench-floor',
            now + 600_000,
            new Date(now).toISOString(),
            new Date(now).toISOString(),
            key.pk,
            key.sk,
          ],
        })),
      }),
    );
    const failed = (out.Responses ?? []).filter((r) => r.Error);
    if (failed.length > 0) throw new Error(`batched claim failed: ${JSON.stringify(failed[0]?.Error)}`);
  });
  const t1 = performance.now();
  const records: Array<Record<string, unknown>> = [];
  await inFlight(chunks(keys, 100), async (batch) => {
    let want: Array<{ pk: string; sk: string }> = batch.map((k) => ({ pk: k.pk, sk: k.sk }));
    while (want.length > 0) {
      const out = await ddb.send(
        new BatchGetCommand({ RequestItems: { [name]: { Keys: want, ConsistentRead: true } } }),
      );
      records.push(...(out.Responses?.[name] ?? []));
      want = (out.UnprocessedKeys?.[name]?.Keys as typeof want | undefined) ?? [];
    }
  });
  if (records.some((r) => r.status !== 'SENDING') || records.length !== deliveries)
    throw new Error('batched claim: not every record was claimed');
  const t2 = performance.now();
  const iso = new Date().toISOString();
  await inFlight(chunks(records, 25), async (batch) => {
    let puts = batch.map((r, i) => {
      const { leaseOwner: _owner, leaseExpiresAt: _lease, ...rest } = r;
      const history = Array.isArray(r.history) ? r.history : [];
      return {
        PutRequest: {
          Item: {
            ...rest,
            status: 'UPLOADED',
            updatedAt: iso,
            vendorRef: String(i),
            history: [...history, `${iso} UPLOADED`],
          },
        },
      };
    });
    while (puts.length > 0) {
      const out = await ddb.send(new BatchWriteCommand({ RequestItems: { [name]: puts } }));
      puts = (out.UnprocessedItems?.[name] as typeof puts | undefined) ?? [];
    }
  });
  return { claimMs: t1 - t0, readMs: t2 - t1, finishMs: performance.now() - t2 };
}
