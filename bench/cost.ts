/**
 * Section 6: what one file costs on AWS. Files go through the local pipeline to Instrumental (the `bench-fast`
 * destination: its limit is never reached) until each is UPLOADED — router, forwarder, and the poller's status
 * check — while an AwsMeter (meter.ts) counts every AWS call the handlers make and the DynamoDB capacity each
 * consumed (indexes included). The counts per file are priced at PRICES (prices.ts).
 *
 * Besides what the handlers call, two kinds of requests are billed to the account and made by AWS itself; they
 * are modelled, one each: S3's event notification (one SQS SendMessage per object) and the Lambda event source
 * mapping (one ReceiveMessage and one DeleteMessageBatch per SQS-triggered invocation). Idle polling, the
 * scheduler and CloudWatch Logs are per hour, not per file, and are left out.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type DeliveryStatus, POLLABLE, SUCCESS, TERMINAL } from '#domain/status.ts';
import { makeJpeg } from '#simulators/media/index.ts';
import { VENDORS } from '#vendors/registry.ts';
import type { AwsMeter, MeteredCall, MeteredInvocation } from './meter.ts';
import { type BenchRelay, pool, putObject, recordsOf, STREAM_ASSETS, type Uploaded } from './pipeline.ts';
import { ISSUE_12_BEFORE, PRICES } from './prices.ts';

export interface CostOptions {
  rounds: number;
  filesPerRound: number;
  fileBytes: number;
  uploadConcurrency: number;
  /** How long one round may take before the section gives up. */
  deadlineMs: number;
}

/** Lambda functions that an SQS event source mapping feeds. */
const SQS_TRIGGERED = new Set(['router', 'forwarder']);

export interface RoundFigures {
  files: number;
  sends: number;
  writeUnitsPerFile: number;
  failedPerSendByTarget: Record<string, number>;
}

export interface CostSummary {
  files: number;
  sends: number;
  rounds: RoundFigures[];
  functions: string[];
  /** Calls per file by service and operation, with the share of each function. */
  operations: Array<{ service: string; operation: string; perFile: number; byFn: Record<string, number> }>;
  dynamodb: {
    readUnits: number;
    writeUnits: number;
    indexReadUnits: number;
    indexWriteUnits: number;
    writeUnitsByFn: Record<string, number>;
    writeUnitsByTarget: Record<string, number>;
    /** Failed conditional writes per vendor send, by item kind (`ratelimit`: the token bucket). */
    failedPerSendByTarget: Record<string, number>;
  };
  s3: { get: number; put: number };
  sqs: { handlers: number; notifications: number; eventSource: number };
  lambda: {
    invocations: Record<string, number>;
    gbSeconds: Record<string, number>;
    msPerInvocation: Record<string, number>;
  };
  secretsManager: number;
  /** Cost per million files: per item, then the totals. */
  cost: Array<[string, number]>;
  total: number;
  totalWithDynamoDbBefore2024_11: number;
}

const S3_GET = new Set([
  'GetObject',
  'HeadObject',
  'SelectObjectContent',
  'GetObjectTagging',
  'GetObjectAttributes',
]);

const sum = <T>(xs: readonly T[], f: (x: T) => number) => xs.reduce((a, x) => a + f(x), 0);
const by = <T>(xs: readonly T[], key: (x: T) => string, f: (x: T) => number): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const x of xs) out[key(x)] = (out[key(x)] ?? 0) + f(x);
  return out;
};
const perFile = (r: Record<string, number>, files: number) =>
  Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v / files]));

/** Per-file figures of what a meter recorded for `files` files and `sends` vendor sends. */
export function summarize(
  calls: readonly MeteredCall[],
  invocations: readonly MeteredInvocation[],
  files: number,
  sends: number,
  rounds: RoundFigures[] = [],
): CostSummary {
  const functions = [...new Set([...invocations.map((i) => i.fn), ...calls.map((c) => c.fn)])].sort();
  const groups = new Map<string, MeteredCall[]>();
  for (const c of calls) {
    const k = `${c.service}\u0000${c.operation}`;
    groups.set(k, [...(groups.get(k) ?? []), c]);
  }
  const operations = [...groups.entries()]
    .map(([k, cs]) => {
      const [service = '', operation = ''] = k.split('\u0000');
      return {
        service,
        operation,
        perFile: cs.length / files,
        byFn: perFile(
          by(
            cs,
            (c) => c.fn,
            () => 1,
          ),
          files,
        ),
      };
    })
    .sort((a, b) => a.service.localeCompare(b.service) || b.perFile - a.perFile);
  const ddb = calls.filter((c) => c.service === 'DynamoDB');
  const failed = ddb.filter((c) => c.failedConditional);
  const s3 = calls.filter((c) => c.service === 'S3');
  const s3Get = s3.filter((c) => S3_GET.has(c.operation)).length / files;
  const s3Put = s3.filter((c) => !S3_GET.has(c.operation)).length / files;
  const triggered = invocations.filter((i) => SQS_TRIGGERED.has(i.fn)).length;
  const sqs = {
    handlers: calls.filter((c) => c.service === 'SQS').length / files,
    notifications: 1,
    eventSource: (2 * triggered) / files,
  };
  const gbSeconds = perFile(
    by(
      invocations,
      (i) => i.fn,
      (i) => (Math.ceil(i.ms) / 1000) * (i.memoryMb / 1024),
    ),
    files,
  );
  const invocationsPerFile = perFile(
    by(
      invocations,
      (i) => i.fn,
      () => 1,
    ),
    files,
  );
  const msPerInvocation = Object.fromEntries(
    functions.map((fn) => {
      const own = invocations.filter((i) => i.fn === fn);
      return [fn, own.length ? sum(own, (i) => i.ms) / own.length : 0];
    }),
  );
  const dynamodb = {
    readUnits: sum(ddb, (c) => c.readUnits) / files,
    writeUnits: sum(ddb, (c) => c.writeUnits) / files,
    indexReadUnits: sum(ddb, (c) => c.indexReadUnits) / files,
    indexWriteUnits: sum(ddb, (c) => c.indexWriteUnits) / files,
    writeUnitsByFn: perFile(
      by(
        ddb,
        (c) => c.fn,
        (c) => c.writeUnits,
      ),
      files,
    ),
    writeUnitsByTarget: perFile(
      by(
        ddb.filter((c) => c.writeUnits > 0),
        (c) => c.target ?? '?',
        (c) => c.writeUnits,
      ),
      files,
    ),
    failedPerSendByTarget: perFile(
      by(
        failed,
        (c) => c.target ?? '?',
        () => 1,
      ),
      Math.max(1, sends),
    ),
  };
  const secretsManager = calls.filter((c) => c.service === 'SecretsManager').length / files;
  const M = 1e6;
  const cost: Array<[string, number]> = [
    ['DynamoDB writes', dynamodb.writeUnits * PRICES.dynamodbWritePerMillion],
    ['DynamoDB reads', dynamodb.readUnits * PRICES.dynamodbReadPerMillion],
    ...functions.map(
      (fn) =>
        [`Lambda ${fn} GB-s`, (gbSeconds[fn] ?? 0) * M * PRICES.lambdaArmPerGbSecond] as [string, number],
    ),
    ['Lambda requests', sum(Object.values(invocationsPerFile), (x) => x) * PRICES.lambdaRequestsPerMillion],
    ['SQS', (sqs.handlers + sqs.notifications + sqs.eventSource) * PRICES.sqsPerMillion],
    ['S3 GET-class', s3Get * (PRICES.s3GetPerThousand * 1000)],
    ['S3 PUT-class', s3Put * (PRICES.s3PutPerThousand * 1000)],
    ['Secrets Manager', secretsManager * (PRICES.secretsManagerPer10k * 100)],
  ];
  const total = sum(cost, ([, v]) => v);
  const dynamoNow =
    dynamodb.writeUnits * PRICES.dynamodbWritePerMillion + dynamodb.readUnits * PRICES.dynamodbReadPerMillion;
  const dynamoBefore =
    dynamodb.writeUnits * PRICES.dynamodbWritePerMillionBefore2024_11 +
    dynamodb.readUnits * PRICES.dynamodbReadPerMillionBefore2024_11;
  return {
    files,
    sends,
    rounds,
    functions,
    operations,
    dynamodb,
    s3: { get: s3Get, put: s3Put },
    sqs,
    lambda: { invocations: invocationsPerFile, gbSeconds, msPerInvocation },
    secretsManager,
    cost,
    total,
    totalWithDynamoDbBefore2024_11: total - dynamoNow + dynamoBefore,
  };
}

function keyFor(round: number, i: number): string {
  const serial = `SN-C${round}${String(i).padStart(4, '0')}`;
  return `${STREAM_ASSETS.fast}/AOI-${i % 8}/${serial}_20260105T081500Z.jpg`;
}

/** The objects whose record is not yet in one of `statuses`. */
async function notYet(
  relay: BenchRelay,
  objs: Uploaded[],
  statuses: readonly DeliveryStatus[],
): Promise<Uploaded[]> {
  const out: Uploaded[] = [];
  for (const obj of objs) {
    const rec = (await recordsOf(relay.stack, obj))[0];
    if (!rec || !statuses.includes(rec.status)) out.push(obj);
  }
  return out;
}

/**
 * Waits until every object's record is final. The poller runs as rarely as it can: once every file is accepted
 * and its first status check is due (the plug-in's firstCheckAfterMs), then every 3 s while some are pending —
 * so that the count holds the poller's work for these files, not idle runs (on AWS it runs once a minute,
 * files or not: a cost per hour, not per file). The scheduled run may come in between, as it would on AWS.
 */
async function untilFinal(relay: BenchRelay, objs: Uploaded[], deadlineMs: number): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  const check = (what: string, left: Uploaded[]) => {
    if (Date.now() > deadline) throw new Error(`${left.length} of ${objs.length} files not ${what} in time`);
  };
  let pending = await notYet(relay, objs, [...POLLABLE, ...TERMINAL]);
  while (pending.length > 0) {
    check('accepted', pending);
    await sleep(1_000);
    pending = await notYet(relay, pending, [...POLLABLE, ...TERMINAL]);
  }
  await sleep((VENDORS.instrumental?.poll?.firstCheckAfterMs ?? 5_000) + 2_000);
  pending = await notYet(relay, objs, TERMINAL);
  while (pending.length > 0) {
    check('final', pending);
    await relay.stack.poller.trigger();
    pending = await notYet(relay, pending, TERMINAL);
    if (pending.length > 0) await sleep(3_000);
  }
  const failed = await notYet(relay, objs, SUCCESS);
  if (failed.length > 0)
    throw new Error(
      `files not delivered: ${failed
        .slice(0, 3)
        .map((o) => o.key)
        .join('; ')}`,
    );
}

/** Section 6: `rounds` × `filesPerRound` files to Instrumental, metered; the per-file figures. */
export async function runCost(relay: BenchRelay, meter: AwsMeter, opts: CostOptions): Promise<CostSummary> {
  const calls: MeteredCall[] = [];
  const invocations: MeteredInvocation[] = [];
  const rounds: RoundFigures[] = [];
  let sends = 0;
  for (let round = 0; round < opts.rounds; round++) {
    const bodies = Array.from({ length: opts.filesPerRound }, (_, i) =>
      makeJpeg({ width: 64, height: 48, seed: 10_000 + round * 1000 + i, padToBytes: opts.fileBytes }),
    );
    const sentBefore = relay.fast.requestsTo('ingestImage').length;
    meter.start();
    try {
      const objs = await pool(bodies, opts.uploadConcurrency, (body, i) =>
        putObject(relay.stack, keyFor(round, i), body),
      );
      await untilFinal(relay, objs, opts.deadlineMs);
    } finally {
      meter.stop();
    }
    const roundSends = relay.fast.requestsTo('ingestImage').length - sentBefore;
    const r = summarize(meter.calls, meter.invocations, opts.filesPerRound, roundSends);
    rounds.push({
      files: opts.filesPerRound,
      sends: roundSends,
      writeUnitsPerFile: r.dynamodb.writeUnits,
      failedPerSendByTarget: r.dynamodb.failedPerSendByTarget,
    });
    calls.push(...meter.calls);
    invocations.push(...meter.invocations);
    sends += roundSends;
  }
  return summarize(calls, invocations, opts.rounds * opts.filesPerRound, sends, rounds);
}

export { ISSUE_12_BEFORE, PRICES };
