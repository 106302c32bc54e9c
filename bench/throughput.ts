/**
 * Section 1: files per second through the local pipeline vs a naive sequential uploader, against the same
 * simulator (rate limit out of the way on both sides).
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { FormData, request } from 'undici';
import type { StoredFile } from '#simulators/instrumental/index.ts';
import { makeJpeg } from '#simulators/media/index.ts';
import {
  ACCEPTED,
  BENCH_KEYS,
  type BenchRelay,
  percentile,
  pool,
  putObject,
  reachedAt,
  type Settled,
  STREAM_ASSETS,
  statusCounts,
  type Uploaded,
  waitSettled,
} from './pipeline.ts';

export interface ThroughputOptions {
  files: number;
  fileBytes: number;
  /** Files sent through both paths first, not measured (JIT, connection pools, SDK clients, secrets). */
  warmup: number;
  /** PutObjects in flight, as a sync tool would (the AWS CLI's default is 10). */
  uploadConcurrency: number;
}

export interface ThroughputResult {
  files: number;
  meanFileBytes: number;
  uploadMs: number;
  pipelineMs: number;
  pipelineFilesPerSec: number;
  pipelineStatuses: string;
  /** First PutObject → the last delivery record created by the router. */
  routedMs: number;
  /** Per file: its PutObject done → its record accepted (p50, p95, max). */
  latencyMs: { p50: number; p95: number; max: number };
  pipelineFailed: number;
  naiveMs: number;
  naiveFilesPerSec: number;
  naiveFailed: number;
  ratio: number;
}

const basename = (key: string) => key.slice(key.lastIndexOf('/') + 1);

function keyFor(i: number): string {
  return `${STREAM_ASSETS.fast}/AOI-${i % 8}/SN-T${String(i).padStart(5, '0')}_20260105T081500Z.jpg`;
}

/** What a naive script sends for one object: the same data fields the relay renders from the key. */
function naiveData(key: string): string {
  const [, station = '', file = ''] = key.split('/');
  const serial = file.split('_')[0] ?? '';
  return JSON.stringify({
    serialNumber: serial,
    stationName: station,
    imageType: 'Top',
    imageTimestamp: { iso8601Time: '2026-01-05T08:15:00.000Z', ianaTimeZone: 'UTC' },
    fileName: basename(key),
  });
}

/** The naive uploader: one object at a time, GetObject (buffered) → multipart POST → next. */
async function naiveUpload(relay: BenchRelay, objs: Uploaded[]): Promise<{ ms: number; failed: number }> {
  const { s3 } = relay.stack.clients;
  const url = `${relay.fast.url}/api/v0/externalData/ingestImage`;
  let failed = 0;
  const t0 = performance.now();
  for (const obj of objs) {
    const got = await s3.send(new GetObjectCommand({ Bucket: relay.stack.buckets.ingest, Key: obj.key }));
    const bytes = await got.Body?.transformToByteArray();
    if (!bytes) throw new Error(`GetObject ${obj.key}: no body`);
    const form = new FormData();
    form.append('file', new Blob([bytes], { type: 'image/jpeg' }), basename(obj.key));
    form.append('data', naiveData(obj.key));
    const res = await request(url, {
      method: 'POST',
      headers: { 'instrumental-api-key': BENCH_KEYS.fast },
      body: form,
    });
    await res.body.text();
    if (res.statusCode !== 200) failed++;
  }
  return { ms: performance.now() - t0, failed };
}

export async function runThroughput(relay: BenchRelay, opts: ThroughputOptions): Promise<ThroughputResult> {
  const { stack, fast } = relay;
  const total = opts.warmup + opts.files;
  const bodies = Array.from({ length: total }, (_, i) =>
    makeJpeg({ width: 64, height: 48, seed: i + 1, padToBytes: opts.fileBytes }),
  );
  const keys = bodies.map((_, i) => keyFor(i));

  // Warm-up through both paths (not measured).
  const warm = await pool(keys.slice(0, opts.warmup), opts.uploadConcurrency, (k, i) =>
    putObject(stack, k, bodies[i] as Buffer),
  );
  await waitSettled(stack, warm, { ready: () => false, progress: () => 0, deadlineMs: 60_000, stallMs: 0 });
  await naiveUpload(relay, warm);

  // The pipeline, measured from the first PutObject to the last acceptance recorded in the table.
  const measuredNames = new Set(keys.slice(opts.warmup).map(basename));
  let stored = 0;
  const onIngested = (f: StoredFile) => {
    if (measuredNames.has(f.fileName)) stored++;
  };
  fast.on('ingested', onIngested);
  let objs: Uploaded[];
  let settled: Settled;
  const t0 = Date.now();
  let uploadMs: number;
  try {
    objs = await pool(keys.slice(opts.warmup), opts.uploadConcurrency, (k, i) =>
      putObject(stack, k, bodies[opts.warmup + i] as Buffer),
    );
    uploadMs = Date.now() - t0;
    settled = await waitSettled(stack, objs, {
      ready: () => stored >= opts.files,
      progress: () => stored,
      deadlineMs: 120_000,
    });
  } finally {
    fast.off('ingested', onIngested);
  }
  if (settled.acceptedAtMs.length === 0) throw new Error('no file was accepted through the pipeline');
  const pipelineMs = Math.max(...settled.acceptedAtMs) - t0;
  const routed = settled.records
    .map((r) => reachedAt(r, ['RECEIVED', 'QUEUED']))
    .filter((x): x is number => x !== undefined);
  const latencies = settled.records
    .map((r, i) => (reachedAt(r, ACCEPTED) ?? Number.NaN) - (objs[i] as Uploaded).doneAt)
    .filter((x) => Number.isFinite(x));

  const naive = await naiveUpload(relay, objs);
  const pipelineFilesPerSec = (opts.files * 1000) / pipelineMs;
  const naiveFilesPerSec = (opts.files * 1000) / naive.ms;
  const meanFileBytes = bodies.slice(opts.warmup).reduce((s, b) => s + b.length, 0) / opts.files;
  return {
    files: opts.files,
    meanFileBytes,
    uploadMs,
    pipelineMs,
    pipelineFilesPerSec,
    pipelineStatuses: statusCounts(settled.records),
    routedMs: Math.max(...routed) - t0,
    latencyMs: {
      p50: percentile(latencies, 0.5),
      p95: percentile(latencies, 0.95),
      max: percentile(latencies, 1),
    },
    pipelineFailed: settled.failed.length,
    naiveMs: naive.ms,
    naiveFilesPerSec,
    naiveFailed: naive.failed,
    ratio: pipelineFilesPerSec / naiveFilesPerSec,
  };
}
