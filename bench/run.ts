/**
 * `npm run bench`: nine sections of figures of factory-relay in one run, on the local stack (fauxqs S3/SQS, DynamoDB
 * Local, the Secrets Manager emulator) and Instrumental simulators, everything on 127.0.0.1.
 *
 *   1. files/s through the pipeline vs a naive sequential uploader against the same simulator (ratio)
 *   2. sustained Instrumental requests/s vs the documented 5/s limit, and the share of 429s
 *   3. peak RSS growth of a forwarder (in a child process) while it streams a 50 MB or 100 MB file
 *   4. minified bundle size of each Lambda (esbuild with the CDK options)
 *   5. the pre-flight's ranged reads: header walks over S3 for files whose headers sit anywhere
 *   6. V7 Darwin under 30 % injected failures: the relay's resumable upload vs a darwin-py-style client
 *   7. Edge Impulse: the forwarder stage vs the official uploader's method (files/s, requests per 1000 files),
 *      with a WAN round trip per request; a forwarder's memory for bigger batches and bigger files
 *   8. the AWS cost of a file: every AWS call and DynamoDB unit per file, priced (run first, on the fresh stack)
 *   9. InstaVid360: task completion → COMPLETED with callbacks vs polling only (and status requests per task);
 *      real deliveries' time with and without a flood of forged callbacks
 *
 * `npm run bench -- cost bundles` runs only the sections named (throughput, rate-limit, memory, bundles,
 * preflight, v7, edge-impulse, cost, instavid360).
 * Prints tables and a block of key figures; writes nothing into the repository. See bench/README.md.
 * This is a measurement, not a test: nothing here asserts a time.
 */
import { cpus, loadavg, platform, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { divertRelayLogs } from '#local/demo/output.ts';
import { LOCAL_DEFAULTS } from '#local/stack.ts';
import { VENDORS } from '#vendors/registry.ts';
import { FUNCTION_SIZING } from '../lib/defaults.ts';
import type { BundleFigures, InitTime } from './bundles.ts';
import { type CostSummary, ISSUE_12_BEFORE, PRICES, runCost } from './cost.ts';
import {
  type CpuUse,
  type EdgeImpulseMemoryResult,
  type EdgeImpulseResult,
  runEdgeImpulse,
  runEdgeImpulseMemory,
  runTableFloor,
  type Span,
  type TableFloorResult,
} from './edge-impulse.ts';
import { type LargeFileRun, largeFileSummary, printLargeFiles, runLargeFiles } from './large-files.ts';
import { killChildren, runChild } from './memory.ts';
import { AwsMeter } from './meter.ts';
import type { OpsBenchResult } from './ops.ts';
import { type BenchRelay, FORWARDER_TUNING, startBenchRelay, UNLIMITED } from './pipeline.ts';
import type { PreflightRow } from './preflight.ts';
import { DOCUMENTED, type RateLimitResult, runRateLimit } from './rate-limit.ts';
import { type Cell, facts, fixed, heading, kib, mib, pct, seconds, table } from './report.ts';
import { runThroughput, type ThroughputResult } from './throughput.ts';
import { runV7Darwin, type V7BenchOptions, type V7BenchResult } from './v7-darwin.ts';

const SETTINGS = {
  throughput: { files: 200, fileBytes: 50 * 1024, warmup: 10, uploadConcurrency: 10 },
  rateLimit: { files: 150, fileBytes: 50 * 1024, uploadConcurrency: 10 },
  memory: {
    /** Just under Instrumental's 50 MiB file limit (the relay's pre-flight and the simulator both use MiB). */
    instrumentalBytes: 50 * 1024 * 1024 - 64 * 1024,
    /** 50 MB and Edge Impulse's limit, 100,000,000 bytes (the relay's pre-flight refuses one byte more). */
    edgeImpulseBytes: [50_000_000, 100_000_000],
    /** Cross-check runs: the child collects this often during the send. */
    gcEveryMs: 20,
  },
  /** The head the pre-flight fetches first (today's Instrumental `preflight.headBytes`). */
  preflight: { headBytes: 256 * 1024 },
  /** Issue 12's method: 3 × 100 files to Instrumental, each until UPLOADED (router, forwarder, poller). */
  cost: { rounds: 3, filesPerRound: 100, fileBytes: 50 * 1024, uploadConcurrency: 10, deadlineMs: 180_000 },
  v7: {
    files: 100,
    fileBytes: 256 * 1024,
    failureRate: 0.085,
    uploadConcurrency: 10,
    darwinPy: { apiTries: 10, initialWaitMs: 250, maxWaitMs: 2_000, putTries: 5, putWaitMs: 250, pushes: 3 },
  } satisfies V7BenchOptions,
  instavid360: {
    photos: 12,
    taskMs: 8_000,
    pollEveryMs: LOCAL_DEFAULTS.pollEveryMs,
    forged: 400,
    forgedConcurrency: 20,
    uploadConcurrency: 5,
    rounds: 3,
  },
  edgeImpulse: {
    files: 1000,
    fileBytes: 50 * 1024,
    latencyMs: 200,
    uploaderConcurrency: 20,
    uploadConcurrency: 10,
    scratchShare: 0.1,
  },
  /** One invocation's batch: more files, then bigger files (the same bytes), GC every 20 ms in the child. */
  edgeImpulseMemory: [
    { files: 50, fileBytes: 1_000_000, tag: 'A' },
    { files: 200, fileBytes: 1_000_000, tag: 'B' },
    { files: 50, fileBytes: 4_000_000, tag: 'C' },
  ],
} as const;

const SECTIONS = [
  'throughput',
  'rate-limit',
  'memory',
  'bundles',
  'preflight',
  'v7',
  'edge-impulse',
  'cost',
  'instavid360',
  'ops',
] as const;
const only = process.argv.slice(2);
for (const name of only)
  if (!(SECTIONS as readonly string[]).includes(name))
    throw new Error(`unknown section "${name}"; sections: ${SECTIONS.join(', ')}`);
/** Whether a section runs: all by default, else those named on the command line. */
const wanted = (name: (typeof SECTIONS)[number]) => only.length === 0 || only.includes(name);

/** Thrown to skip the stack when no stack section was asked for. */
class SkipStack extends Error {}

const log = (s = '') => process.stdout.write(`${s}\n`);
const errors: string[] = [];

async function section<T>(name: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    const msg = err instanceof Error ? (err.stack ?? err.message) : String(err);
    errors.push(`${name}: ${msg}`);
    log(`\n!! ${name} failed: ${msg}`);
    return undefined;
  }
}

function printThroughput(r: ThroughputResult): void {
  log(heading('1. Throughput: local pipeline vs naive sequential uploader (same simulator)'));
  log(
    facts([
      [
        'files',
        `${r.files} JPEGs (makeJpeg, ~${kib(r.meanFileBytes)} KiB each), after a warm-up of ${SETTINGS.throughput.warmup} through both paths`,
      ],
      [
        'simulator',
        `Instrumental, burst ${UNLIMITED.burst}, refill ${UNLIMITED.perSecond}/s (not the bottleneck)`,
      ],
      [
        'relay',
        `transmit rate_limit ${UNLIMITED.burst} / ${UNLIMITED.perSecond} per s; forwarder batchSize ${FORWARDER_TUNING.batchSize}, maxConcurrency ${FORWARDER_TUNING.maxConcurrency}; router batchSize ${LOCAL_DEFAULTS.router.batchSize}, maxConcurrency ${LOCAL_DEFAULTS.router.maxConcurrency} (local defaults)`,
      ],
      [
        'pipeline',
        `${SETTINGS.throughput.uploadConcurrency} PutObjects in flight → S3 event → router → queue → forwarder (streams S3 → multipart) → status record; timed from the first PutObject to the last record reaching PENDING_VALIDATION (its history timestamp)`,
      ],
      ['naive', 'one at a time: GetObject (buffered) → undici POST multipart (FormData) → next'],
    ]),
  );
  log();
  log(
    table(
      ['path', 'files', 'time', 'files/s', 'outcome'],
      [
        [
          'pipeline',
          r.files,
          seconds(r.pipelineMs),
          fixed(r.pipelineFilesPerSec),
          `${r.pipelineStatuses}; uploads took ${seconds(r.uploadMs)}`,
        ],
        [
          'naive',
          r.files,
          seconds(r.naiveMs),
          fixed(r.naiveFilesPerSec),
          `${r.files - r.naiveFailed} × 200${r.naiveFailed ? `, ${r.naiveFailed} failed` : ''}`,
        ],
      ],
    ),
  );
  log();
  log(
    facts([
      [
        'pipeline stages',
        `all ${r.files} uploaded by ${seconds(r.uploadMs)}, delivery records created by the router by ${seconds(r.routedMs)}, accepted by ${seconds(r.pipelineMs)}`,
      ],
      [
        'per-file latency',
        `PutObject done → accepted: p50 ${seconds(r.latencyMs.p50)}, p95 ${seconds(r.latencyMs.p95)}, max ${seconds(r.latencyMs.max)}`,
      ],
    ]),
  );
  log(`\n  ratio pipeline / naive: ${fixed(r.ratio, 2)} ×`);
}

function printRateLimit(r: RateLimitResult): void {
  log(heading('2. Instrumental rate limit: sustained requests/s vs the documented 5/s'));
  log(
    facts([
      [
        'simulator',
        `documented defaults: burst ${DOCUMENTED.burst}, refill ${DOCUMENTED.perSecond}/s per key (shared with fileStatus)`,
      ],
      [
        'relay',
        `its default Instrumental limit (plug-in: ${r.relayLimit ? `${r.relayLimit.burst} / ${r.relayLimit.perSecond} per s` : 'none'}) in the DynamoDB token bucket; forwarder batchSize ${FORWARDER_TUNING.batchSize}, maxConcurrency ${FORWARDER_TUNING.maxConcurrency}`,
      ],
      [
        'files',
        `${r.files} JPEGs; deliveries: ${r.statuses}; ${r.deliveriesRetried} needed more than one send`,
      ],
      ['total', `${seconds(r.totalMs)} from the first PutObject to the last acceptance`],
    ]),
  );
  log();
  log(
    table(
      ['measure', 'value'],
      [
        ['ingestImage requests received', String(r.ingestRequests)],
        ['  accepted (200)', String(r.accepted)],
        ['  refused (429)', String(r.rejected429)],
        ['  other statuses', r.otherStatuses],
        ['429 share', pct(r.share429)],
        [`first ${DOCUMENTED.burst} acceptances (burst) within`, seconds(r.burstMs)],
        [`window after the ${DOCUMENTED.burst}th acceptance`, seconds(r.windowMs)],
        ['sustained accepted req/s in that window', fixed(r.sustainedPerSec, 2)],
        ['all ingest req/s in that window (incl. 429)', fixed(r.attemptedPerSec, 2)],
        ['fileStatus calls (poller) during the run', String(r.fileStatusInWindow)],
        ['most a perfect client could get (50 + 5/s × t)', fixed(r.allowedByBucket, 1)],
        ['accepted / that maximum', pct(r.accepted / r.allowedByBucket)],
      ],
    ),
  );
  log(
    `\n  sustained ${fixed(r.sustainedPerSec, 2)} req/s vs limit ${DOCUMENTED.perSecond}/s: ${fixed(r.vsLimit, 3)} × the limit`,
  );
}

function printV7(r: V7BenchResult): void {
  const o = SETTINGS.v7;
  const d = o.darwinPy;
  log(
    heading('6. V7 Darwin under injected failures: the relay vs a darwin-py-style client (same simulator)'),
  );
  log(
    facts([
      ['files', `${r.files} JPEGs of ${kib(r.fileBytes)} KiB, ${o.uploadConcurrency} at a time`],
      [
        'injection',
        `each request of each step fails with p = ${pct(o.failureRate)} (1 − ${fixed(1 - o.failureRate, 3)}⁴ = ${pct(1 - (1 - o.failureRate) ** 4)} of files meet ≥ 1): register 503 / 429 Retry-After 1 s before V7 acts; sign, PUT, confirm half before (503, S3 SlowDown, 500), half after (V7 did it, the answer is lost)`,
      ],
      [
        'relay',
        `S3 put → router → forwarder (batchSize ${FORWARDER_TUNING.batchSize}): register → sign → PUT → confirm, checkpointed; in-attempt retries, then the core's backoff (defaults: base 2 s)`,
      ],
      [
        'darwin-py way',
        `register 500 per call; requests retried on 429/5xx up to ${d.apiTries}× (waits ${d.initialWaitMs} ms doubling to ${d.maxWaitMs} ms; darwin-py's: 60–300 s), Retry-After ignored; PUT retried on 503 only (${d.putTries}×, whole body); any other failure fails the file; failed files pushed again from register, up to ${d.pushes} pushes`,
      ],
    ]),
  );
  log();
  const row = (name: string, c: V7BenchResult['relay'] | V7BenchResult['darwinPy'], time: string): Cell[] => [
    name,
    `${c.delivered}/${r.files}`,
    fixed(c.bytesSent / Math.max(1, c.deliveredBytes), 3),
    fixed(c.requests / Math.max(1, c.delivered), 2),
    c.registerCallsMax,
    time,
    c.lost,
  ];
  log(
    table(
      [
        'client',
        'confirmed',
        'bytes sent / delivered byte',
        'requests / delivered',
        'max registers per file',
        'time',
        'not confirmed',
      ],
      [
        row('relay', r.relay, seconds(r.relay.ms)),
        row(
          'darwin-py way',
          r.darwinPy,
          r.darwinPy.delivered === r.files
            ? seconds(r.darwinPy.ms)
            : `never (gave up after ${seconds(r.darwinPy.ms)})`,
        ),
      ],
    ),
  );
  log();
  log(
    table(
      ['requests (injected failures)', ...Object.keys(r.relay.routes)],
      [
        ['relay', ...Object.values(r.relay.routes).map((x) => `${x.requests} (${x.injected})`)],
        ['darwin-py way', ...Object.values(r.darwinPy.routes).map((x) => `${x.requests} (${x.injected})`)],
      ],
    ),
  );
  log(
    `\n  relay: ${fixed(r.relay.bytesSent / r.relay.deliveredBytes, 3)} bytes sent per delivered byte (goal ≤ 1.1), ${r.relay.delivered}/${r.files} confirmed in ${seconds(r.relay.ms)}; ${r.relay.retried} deliveries went through the core's retry; records: ${r.relay.statuses}`,
  );
  log(
    `  darwin-py way: ${fixed(r.darwinPy.bytesSent / Math.max(1, r.darwinPy.deliveredBytes), 3)} bytes per delivered byte, ${r.darwinPy.delivered}/${r.files} confirmed; ${r.darwinPy.skipped} "skipped" (ALREADY_EXISTS) on re-push`,
  );
}

function printBundles(b: BundleFigures): void {
  log(heading("4. Lambda bundles: minified size and module init (cold start), beside issue 12's figures"));
  log(
    facts([
      [
        'options',
        'lib/bundling.ts, as deployed: esm, node22, minify, linked source map, conditions relay-bundle (precompiled validators), undici without Milo or its lazy parts (BUNDLE_EXTERNALS), no AWS SDK (lambdas/adapters/aws)',
      ],
      ['config baked in', `${b.configPath} (${kib(b.configBytes)} KiB JSON, in the banner and in define)`],
      [
        'init',
        `import() of the bundle in a fresh Node ${process.versions.node} process, median of ${b.runs}: wall ms (CPU ms of the child); "was" = issue 12 (wall, quiet machine)`,
      ],
      [
        'flags',
        'deployed: none (source maps read only when an error leaves a handler); old: --enable-source-maps',
      ],
    ]),
  );
  log();
  const ms = (t: InitTime) => `${fixed(t.wallMs, 0)} (${fixed(t.cpuMs, 0)})`;
  log(
    table(
      [
        'lambda',
        'KiB',
        'was KiB',
        'gzip KiB',
        'map KiB',
        'modules',
        'init ms',
        'was',
        'w/ source maps',
        'was',
        'build',
      ],
      b.sizes.map((s) => {
        const was = b.previous[s.name];
        return [
          s.name,
          kib(s.rawBytes),
          was?.kib ?? 'n/a',
          kib(s.gzipBytes),
          kib(s.mapBytes),
          s.inputs,
          ms(s.init),
          was?.initMs ?? 'n/a',
          ms(s.initSourceMaps),
          was?.initMapsMs ?? 'n/a',
          seconds(s.buildMs),
        ];
      }),
    ),
  );
  const fwd = b.sizes.find((s) => s.name === 'forwarder');
  if (fwd)
    for (const v of [b.sdk.bundled, b.sdk.external])
      log(
        `  ${v.name}: ${kib(v.rawBytes)} KiB vs ${kib(fwd.rawBytes)} (${fixed(v.rawBytes / fwd.rawBytes, 2)} ×), init ${ms(v.init)} vs ${ms(fwd.init)} ms = ${fixed(v.init.wallMs / fwd.init.wallMs, 2)} ×`,
      );
}

const n2 = (x: number) => fixed(x, 2);
const money = (x: number) => `$${fixed(x, 2)}`;

function printCost(c: CostSummary): void {
  log(
    heading(`8. AWS cost per file: ${c.files} files to Instrumental until UPLOADED, every AWS call metered`),
  );
  log(
    facts([
      [
        'method',
        `${c.rounds.length} rounds of ${c.files / Math.max(1, c.rounds.length)} files (bench-fast, never rate-limited); router + forwarder + poller; ${c.sends} vendor sends`,
      ],
      [
        'counted',
        'SDK middleware on every client, calls inside handler invocations only; DynamoDB with ReturnConsumedCapacity INDEXES',
      ],
      [
        'modelled',
        '1 SQS SendMessage per object (S3 event notification), 1 ReceiveMessage + 1 DeleteMessageBatch per SQS-triggered invocation (event source mapping)',
      ],
      ['prices', `${PRICES.label} (bench/prices.ts, bench/README.md)`],
    ]),
  );
  log();
  log(
    table(
      ['service', 'operation', 'calls/file', ...c.functions],
      c.operations.map((o) => [
        o.service,
        o.operation,
        n2(o.perFile),
        ...c.functions.map((fn) => n2(o.byFn[fn] ?? 0)),
      ]),
    ),
  );
  log();
  const d = c.dynamodb;
  const bucketFailed = d.failedPerSendByTarget.ratelimit ?? 0;
  const otherFailed = Object.entries(d.failedPerSendByTarget)
    .filter(([k]) => k !== 'ratelimit')
    .map(([k, v]) => `${k} ${n2(v)}`)
    .join(', ');
  const rounds = (f: (r: CostSummary['rounds'][number]) => number) =>
    c.rounds.map((r) => n2(f(r))).join(' / ');
  log(
    table(
      ['per file', 'now', 'issue 12 (before)', 'ratio'],
      [
        [
          'DynamoDB write units',
          n2(d.writeUnits),
          ISSUE_12_BEFORE.dynamodbWriteUnits,
          n2(d.writeUnits / ISSUE_12_BEFORE.dynamodbWriteUnits),
        ],
        [
          '  by function',
          c.functions.map((fn) => `${fn} ${n2(d.writeUnitsByFn[fn] ?? 0)}`).join(', '),
          Object.entries(ISSUE_12_BEFORE.dynamodbWriteUnitsByFunction)
            .map(([k, v]) => `${k} ${v}`)
            .join(', '),
          '',
        ],
        [
          '  by item',
          Object.entries(d.writeUnitsByTarget)
            .map(([k, v]) => `${k} ${n2(v)}`)
            .join(', '),
          '',
          '',
        ],
        [
          '  of which index writes',
          n2(d.indexWriteUnits),
          ISSUE_12_BEFORE.indexWriteUnits,
          n2(d.indexWriteUnits / ISSUE_12_BEFORE.indexWriteUnits),
        ],
        ['  per round', rounds((r) => r.writeUnitsPerFile), '', ''],
        ['DynamoDB read units', `${n2(d.readUnits)} (indexes ${n2(d.indexReadUnits)})`, 'n/a', ''],
        [
          'failed conditional writes per send: token bucket',
          `${n2(bucketFailed)} (rounds ${rounds((r) => r.failedPerSendByTarget.ratelimit ?? 0)})`,
          ISSUE_12_BEFORE.tokenBucketFailedPerSend,
          '',
        ],
        ['failed conditional writes per send: other', otherFailed || '0', 'n/a', ''],
        [
          'S3 GET-class / PUT-class requests',
          `${n2(c.s3.get)} / ${n2(c.s3.put)}`,
          `${ISSUE_12_BEFORE.s3GetRequests} / n/a`,
          n2(c.s3.get / ISSUE_12_BEFORE.s3GetRequests),
        ],
        [
          'SQS requests (handlers + notification + event source)',
          `${n2(c.sqs.handlers + c.sqs.notifications + c.sqs.eventSource)} (${n2(c.sqs.handlers)} + ${n2(c.sqs.notifications)} + ${n2(c.sqs.eventSource)})`,
          ISSUE_12_BEFORE.sqsRequests,
          '',
        ],
        [
          'Lambda invocations',
          c.functions.map((fn) => `${fn} ${n2(c.lambda.invocations[fn] ?? 0)}`).join(', '),
          'n/a',
          '',
        ],
        [
          'Lambda GB-s (measured ms × configured MB)',
          c.functions
            .map(
              (fn) =>
                `${fn} ${fixed(c.lambda.gbSeconds[fn] ?? 0, 4)} (${fixed(c.lambda.msPerInvocation[fn] ?? 0, 0)} ms/inv)`,
            )
            .join(', '),
          'n/a',
          '',
        ],
        ['Secrets Manager calls', fixed(c.secretsManager, 3), 'n/a', ''],
      ],
    ),
  );
  log();
  log(
    table(
      ['cost per million files', 'USD'],
      [
        ...c.cost.map(([k, v]) => [k, money(v)] as Cell[]),
        ['total', money(c.total)],
        ['total, DynamoDB at its prices before 2024-11-01', money(c.totalWithDynamoDbBefore2024_11)],
        [
          'issue 12 (before)',
          `≈ $${ISSUE_12_BEFORE.costPerMillionFiles} (${ISSUE_12_BEFORE.costParts}); ratio ${n2(c.total / ISSUE_12_BEFORE.costPerMillionFiles)}`,
        ],
      ],
    ),
  );
  log('  Lambda durations are local (emulators and simulators on the same CPUs): on AWS they differ.');
}

function printPreflight(rows: PreflightRow[]): void {
  log(heading('5. Pre-flight header reads: the verdict wherever the header sits (local S3, ranged GETs)'));
  log(
    facts([
      ['head', `${kib(SETTINGS.preflight.headBytes)} KiB by one ranged GET, not counted below`],
      [
        'walk',
        'jpegFrame / mp4Info over a CachingRangeReader of S3Objects.range (defaults: 64 KiB doubling to 8 MiB, ≤ 16 reads)',
      ],
    ]),
  );
  log();
  log(
    table(
      ['file', 'MiB', 'verdict', 'GETs after head', 'KiB read', 'largest KiB', 'ms (head + walk)'],
      rows.map((r) => [
        r.file,
        mib(r.bytes),
        r.verdict,
        r.calls,
        kib(r.readBytes),
        kib(r.largest),
        fixed(r.ms, 1),
      ]),
    ),
  );
}

function printEdgeImpulse(
  r: EdgeImpulseResult | undefined,
  floor: TableFloorResult | undefined,
  memory: EdgeImpulseMemoryResult[],
  memoryMb: number,
): void {
  log(
    heading(
      "7. Edge Impulse: the forwarder stage vs the official uploader's method (same simulator, +200 ms)",
    ),
  );
  if (r) {
    log(
      facts([
        [
          'files',
          `${r.files} JPEGs of ${kib(r.meanFileBytes)} KiB in the local bucket (90 % under ok/, 10 % under scratch/: the label)`,
        ],
        [
          'simulator',
          `Edge Impulse, ${r.latencyMs} ms added to every ingestion request (a WAN round trip); duplicates refused (x-disallow-duplicates: 1) on both paths`,
        ],
        [
          'relay',
          `forwarder stage only: ${r.files} deliveries already on the Edge Impulse queue (routed in ${seconds(r.relay.queuedMs)}, not counted) → outcomes recorded; the plug-in's settings (batch ≤ 1000, its window, ${r.relay.invocations} invocations)`,
        ],
        [
          'official',
          "edge-impulse-cli 1.39.2's method: GetObject (whole), then one FormData POST per file, a new undici Agent each, 20 in parallel",
        ],
      ]),
    );
    log();
    log(
      table(
        ['path', 'time', 'files/s', 'ingestion requests', 'per 1000 files', 'outcome'],
        (
          [
            ['relay (forwarder stage)', r.relay],
            ['official uploader method', r.official],
          ] as const
        ).map(([name, p]) => [
          name,
          seconds(p.ms),
          fixed(p.filesPerSec),
          p.requests,
          fixed(p.requestsPer1000, 0),
          p.outcome,
        ]),
      ),
    );
    log(
      `\n  ratio relay / official: ${fixed(r.ratio, 2)} × (goal ≥ 5 ×); ${fixed(r.relay.meanFilesPerRequest, 0)} files per relay request`,
    );
    const tl = r.relay.timeline;
    const at = (x: Span) => `${seconds(x.firstMs)} – ${seconds(x.lastMs)}`;
    log(
      `  the relay's stage, after the mapping started: invocations ${at(tl.invocations)} (the gathering window), claims ${at(tl.claims)}, ingestion requests ${at(tl.requests)}, outcomes ${at(tl.outcomes)}`,
    );
    const busy = (c: CpuUse) =>
      `${fixed(c.dynamodbLocalS, 1)} s DynamoDB Local + ${fixed(c.nodeS, 1)} s Node over ${fixed(c.wallS, 1)} s = ${pct((c.dynamodbLocalS + c.nodeS) / (c.wallS * c.cores))} of ${c.cores} cores`;
    if (r.relay.cpu && r.official.cpu) {
      const c = r.relay.cpu;
      log(
        `  CPU used (Node: the relay's handlers or the official client, fauxqs, the simulator; one process): relay stage ${busy(c)}; official method ${busy(r.official.cpu)}`,
      );
      // However well it overlapped, the stage's CPU needs this long on these cores after the gathering window.
      const leastMs = tl.invocations.firstMs + ((c.dynamodbLocalS + c.nodeS) / c.cores) * 1000;
      log(
        `  so on this machine the stage could not end before ${seconds(leastMs)} (the window + its CPU spread over every core): ${fixed(r.official.ms / leastMs, 2)} × at most; 5 × would need it over by ${seconds(r.official.ms / 5)}`,
      );
    }
  }
  if (floor)
    log(
      `  the table's share: ${floor.deliveries} claims in ${seconds(floor.claimMs)} + ${floor.deliveries} outcomes in ${seconds(floor.finishMs)} (one conditional write each, as the forwarder does, on this DynamoDB Local)\n  the same batched, at most: ${seconds(floor.batched.claimMs)} of claims (PartiQL, 25 a request) + ${seconds(floor.batched.readMs)} to read them back (100 a request) + ${seconds(floor.batched.finishMs)} of outcomes (whole-item puts, 25 a request, no lease check) = ${seconds(floor.batched.claimMs + floor.batched.readMs + floor.batched.finishMs)}`,
    );
  if (memory.length > 0) {
    log();
    log(
      table(
        [
          "one invocation's batch",
          'MiB sent',
          'requests',
          'stored',
          'send',
          'peak RSS − baseline (MiB)',
          'peak Buffers (MiB)',
        ],
        memory.map((m) => [
          `${m.files} × ${fixed(m.fileBytes / 1e6, 1)} MB`,
          mib(m.batchBytes),
          m.requests,
          `${m.stored} of ${m.files}`,
          seconds(m.handlerMs),
          mib(m.deltaBytes),
          mib(m.peakArrayBuffersBytes),
        ]),
      ),
    );
    log(
      `\n  a forwarder child per batch (bench/forward-child.ts, GC every 20 ms): memory stays flat as the batch grows 4 × in files or in file size; the Lambda has ${memoryMb} MB`,
    );
  }
}

/** Where the stack's JSON logs and EMF metric lines go during a run, as `npm start` puts them in .relay/. */
const RELAY_LOG = fileURLToPath(new URL('../.relay/bench.log', import.meta.url));

async function main(): Promise<number> {
  const started = Date.now();
  const cpu = cpus();
  log(`factory-relay benchmark — ${new Date().toISOString()}`);
  log(`the relay's logs and metrics (EMF lines) of this run: .relay/bench.log`);
  log(
    `Node ${process.version} on ${platform()} ${release()}, ${cpu.length} × ${cpu[0]?.model ?? 'cpu'}; load average ${loadavg()
      .map((l) => fixed(l, 2))
      .join(' / ')} (1 / 5 / 15 min) — other processes on these CPUs move every figure but section 4`,
  );

  let relay: BenchRelay | undefined;
  let t: ThroughputResult | undefined;
  let rl: RateLimitResult | undefined;
  let mem: LargeFileRun[] | undefined;
  let v7: V7BenchResult | undefined;
  let ei: EdgeImpulseResult | undefined;
  let eiFloor: TableFloorResult | undefined;
  const eiMemory: EdgeImpulseMemoryResult[] = [];
  const stop = async () => {
    const r = relay;
    relay = undefined;
    if (r) await r.stop();
  };
  const onSignal = (sig: NodeJS.Signals) => {
    log(`\n${sig}: stopping the child, the stack and the simulators`);
    killChildren();
    void stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const memoryMb = FUNCTION_SIZING.forwarder.memorySize;
  const meter = new AwsMeter();
  const uninstall = meter.install();
  let cost: CostSummary | undefined;
  const stackSections = (['throughput', 'rate-limit', 'memory', 'v7', 'edge-impulse', 'cost'] as const).some(
    wanted,
  );
  try {
    if (!stackSections) throw new SkipStack();
    relay = await startBenchRelay(meter);
    const r = relay;
    log(
      `local stack up in ${seconds(r.stack.timings.stackMs)} (fauxqs S3+SQS, DynamoDB Local, Secrets Manager emulator); simulators on ${r.fast.url} and ${r.limited.url}`,
    );
    // First, on the fresh stack: nothing of another section is left in the table or the poller's work.
    if (wanted('cost')) cost = await section('8. cost', () => runCost(r, meter, SETTINGS.cost));
    if (cost) printCost(cost);
    if (wanted('throughput')) t = await section('1. throughput', () => runThroughput(r, SETTINGS.throughput));
    if (t) printThroughput(t);
    if (wanted('rate-limit')) rl = await section('2. rate limit', () => runRateLimit(r, SETTINGS.rateLimit));
    if (rl) printRateLimit(rl);
    const eiTimeoutMs = (VENDORS['edge-impulse']?.infra?.timeoutSeconds ?? 300) * 1000;
    mem = !wanted('memory')
      ? undefined
      : await section('3. memory', () =>
          runLargeFiles(r, {
            ...SETTINGS.memory,
            instrumentalTimeoutMs: FUNCTION_SIZING.forwarder.timeout.toMilliseconds(),
            edgeImpulseTimeoutMs: eiTimeoutMs,
          }),
        );
    if (mem) printLargeFiles(mem, memoryMb, SETTINGS.memory.gcEveryMs, log);
    if (wanted('v7')) v7 = await section('6. V7 Darwin', () => runV7Darwin(r, SETTINGS.v7));
    if (v7) printV7(v7);
    // Section 7 runs here, on the same stack (its Edge Impulse forwarder starts deferred).
    if (wanted('edge-impulse')) {
      for (const m of SETTINGS.edgeImpulseMemory) {
        const got = await section(`7. Edge Impulse memory (${m.files} × ${m.fileBytes})`, () =>
          runEdgeImpulseMemory(r, {
            ...m,
            gcEveryMs: SETTINGS.memory.gcEveryMs,
            functionTimeoutMs: eiTimeoutMs,
          }),
        );
        if (got) eiMemory.push(got);
      }
      eiFloor = await section('7. Edge Impulse table floor', () =>
        runTableFloor(r, SETTINGS.edgeImpulse.files),
      );
      ei = await section('7. Edge Impulse', () => runEdgeImpulse(r, SETTINGS.edgeImpulse));
      printEdgeImpulse(ei, eiFloor, eiMemory, VENDORS['edge-impulse']?.infra?.memoryMb ?? memoryMb);
    }
  } catch (err) {
    if (!(err instanceof SkipStack)) {
      errors.push(`stack: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      log(`\n!! could not run the stack sections: ${String(err)}`);
    }
  } finally {
    uninstall();
    await stop();
  }

  // Imported now: it loads the relay's config and vendor modules, which the stack wants loaded after its env.
  const bundles = wanted('bundles')
    ? await section('4. bundles', async () => (await import('./bundles.ts')).measureBundles())
    : undefined;
  if (bundles) printBundles(bundles);
  const preflight = wanted('preflight')
    ? await section('5. pre-flight reads', async () =>
        (await import('./preflight.ts')).runPreflight(SETTINGS.preflight.headBytes),
      )
    : undefined;
  if (preflight) printPreflight(preflight);
  const iv = wanted('instavid360')
    ? await section('9. InstaVid360', async () =>
        (await import('./instavid360.ts')).runInstaVid360({ ...SETTINGS.instavid360 }),
      )
    : undefined;
  if (iv) (await import('./instavid360.ts')).printInstaVid360(iv, log);
  const ops = wanted('ops')
    ? await section('10. ops status and where', async () =>
        // A process of its own: see bench/ops-child.ts.
        runChild<OpsBenchResult>(
          {},
          25 * 60_000,
          [],
          fileURLToPath(new URL('./ops-child.ts', import.meta.url)),
        ),
      )
    : undefined;
  if (ops) (await import('./ops.ts')).printOps(ops, log);

  log(heading('Key figures'));
  const na = 'n/a (failed)';
  /** The section of each key figure: a figure of a section not asked for is left out, not shown as failed. */
  const sectionOf: Record<string, (typeof SECTIONS)[number]> = {
    'pipeline files/s': 'throughput',
    'naive files/s': 'throughput',
    ratio: 'throughput',
    'sustained req/s': 'rate-limit',
    'vs limit': 'rate-limit',
    '429 share': 'rate-limit',
    'peak RSS growth': 'memory',
    'bundle sizes': 'bundles',
    'module init': 'bundles',
    'DynamoDB units / file': 'cost',
    'token-bucket failed writes': 'cost',
    'cost / million files': 'cost',
    'V7 under 30 % failures': 'v7',
    'Edge Impulse files/s': 'edge-impulse',
    'Edge Impulse requests / 1000 files': 'edge-impulse',
    'Edge Impulse memory': 'edge-impulse',
    'pre-flight reads': 'preflight',
    'InstaVid360 complete → COMPLETED': 'instavid360',
    'forged-callback flood': 'instavid360',
  };
  const asked = (rows: Array<[string, Cell]>) =>
    rows.filter(([label]) => {
      const name = sectionOf[label];
      return name === undefined || wanted(name);
    });
  log(
    facts(
      asked([
        ['pipeline files/s', t ? fixed(t.pipelineFilesPerSec) : na],
        ['naive files/s', t ? fixed(t.naiveFilesPerSec) : na],
        ['ratio', t ? `${fixed(t.ratio, 2)} ×` : na],
        ['sustained req/s', rl ? fixed(rl.sustainedPerSec, 2) : na],
        ['vs limit', rl ? `${fixed(rl.vsLimit, 3)} × ${DOCUMENTED.perSecond}/s` : na],
        ['429 share', rl ? `${pct(rl.share429)} (${rl.rejected429} of ${rl.ingestRequests})` : na],
        ['peak RSS growth', (mem && largeFileSummary(mem)) ?? na],
        [
          'bundle sizes',
          bundles
            ? bundles.sizes
                .map((s) => `${s.name} ${kib(s.rawBytes)} KiB (gzip ${kib(s.gzipBytes)})`)
                .join(', ')
            : na,
        ],
        [
          'module init',
          bundles
            ? `${bundles.sizes.map((s) => `${s.name} ${fixed(s.init.wallMs, 0)} ms (CPU ${fixed(s.init.cpuMs, 0)})`).join(', ')}; was 245 / 310 ms`
            : na,
        ],
        [
          'DynamoDB units / file',
          cost
            ? `${fixed(cost.dynamodb.writeUnits, 2)} write (index ${fixed(cost.dynamodb.indexWriteUnits, 2)}), ${fixed(cost.dynamodb.readUnits, 2)} read; was 25.5 write`
            : na,
        ],
        [
          'token-bucket failed writes',
          cost ? `${fixed(cost.dynamodb.failedPerSendByTarget.ratelimit ?? 0, 2)} per send; was 1.4–2.8` : na,
        ],
        [
          'cost / million files',
          cost
            ? `$${fixed(cost.total, 2)} at ${PRICES.label} ($${fixed(cost.totalWithDynamoDbBefore2024_11, 2)} with DynamoDB before 2024-11-01); was ≈ $22`
            : na,
        ],
        [
          'V7 under 30 % failures',
          v7
            ? `relay ${fixed(v7.relay.bytesSent / v7.relay.deliveredBytes, 3)} bytes sent per delivered byte, ${fixed(v7.relay.requests / v7.relay.delivered, 2)} requests per file, ${v7.relay.delivered}/${v7.files} confirmed in ${seconds(v7.relay.ms)}; darwin-py way ${fixed(v7.darwinPy.bytesSent / Math.max(1, v7.darwinPy.deliveredBytes), 3)}, ${fixed(v7.darwinPy.requests / Math.max(1, v7.darwinPy.delivered), 2)}, ${v7.darwinPy.delivered}/${v7.files}`
            : na,
        ],
        [
          'Edge Impulse files/s',
          ei
            ? `relay ${fixed(ei.relay.filesPerSec)} vs official uploader method ${fixed(ei.official.filesPerSec)}: ${fixed(ei.ratio, 2)} × (goal ≥ 5 ×)`
            : na,
        ],
        [
          'Edge Impulse requests / 1000 files',
          ei
            ? `relay ${fixed(ei.relay.requestsPer1000, 0)} vs official ${fixed(ei.official.requestsPer1000, 0)}`
            : na,
        ],
        [
          'Edge Impulse memory',
          eiMemory.length
            ? eiMemory
                .map((m) => `${m.files} × ${fixed(m.fileBytes / 1e6, 1)} MB: +${mib(m.deltaBytes)} MiB`)
                .join(', ')
            : na,
        ],
        [
          'pre-flight reads',
          preflight
            ? `at most ${Math.max(...preflight.map((r) => r.calls))} ranged GETs after the head; a moov after mdat costs ${preflight.find((r) => r.file.startsWith('mp4v MP4, moov after'))?.calls ?? '?'}`
            : na,
        ],
        [
          'InstaVid360 complete → COMPLETED',
          iv
            ? `p50 ${seconds(iv.callbacks.latency.p50)} with callbacks vs ${seconds(iv.polling.latency.p50)} polling only (poller every ${seconds(iv.settings.pollEveryMs)}); ${fixed(iv.callbacks.statusPerTask, 2)} vs ${fixed(iv.polling.statusPerTask, 2)} status requests per task`
            : na,
        ],
        [
          'forged-callback flood',
          iv
            ? `${iv.flood.forgedSent} forged per flood: real deliveries' p50 ${seconds(iv.flood.during.p50)} during vs ${seconds(iv.flood.base.p50)} without (${iv.flood.slowdown >= 0 ? '+' : ''}${pct(iv.flood.slowdown)}; mean ${iv.flood.slowdownMean >= 0 ? '+' : ''}${pct(iv.flood.slowdownMean)})`
            : na,
        ],
      ]),
    ),
  );
  log(
    `\ntotal ${seconds(Date.now() - started)}${errors.length ? `; ${errors.length} section(s) failed` : ''}`,
  );
  return errors.length ? 1 : 0;
}

const relayLog = divertRelayLogs(RELAY_LOG);
try {
  process.exitCode = await main();
} finally {
  relayLog.close();
}
