/**
 * Bench section 10 (issue 10): what GET /v1/status costs with 10 records and with 100,000 in the status table,
 * and the bySerial query behind `relay where SERIAL`. Records are seeded with BatchWriteItem straight into the
 * local table (DynamoDB Local), with the stream aggregator running, so the counters are the real ones.
 * /v1/status is built by lambdas/domain/ops/status.ts with the real adapters; its read units come from
 * ReturnConsumedCapacity on every read it makes. Nothing here asserts a time.
 */
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { BatchGetCommand, BatchWriteCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { OpsCounters, StatusTable } from '#adapters/dynamodb.ts';
import { TABLE } from '#commons/table.ts';
import type { RelayConfig } from '#domain/config/types.ts';
import { buildStatus } from '#domain/ops/status.ts';
import { type LocalStack, startLocalStack } from '#local/stack.ts';

export interface OpsBenchRow {
  records: number;
  statusMs: number;
  statusReadUnits: number;
  whereMs: number;
  whereItems: number;
  whereReadUnits: number;
}

export interface OpsBenchResult {
  rows: OpsBenchRow[];
  seedMs: number;
  seedPerSecond: number;
  countsMatch: boolean;
}

function relayTable(stack: LocalStack) {
  const table = stack.clients.relay.table;
  if (!table) throw new Error('the stack has no DynamoDB');
  return table;
}

const CONFIG: RelayConfig = {
  version: 1,
  data_receiver: [
    {
      data_receiver_name: 'bench',
      protocol: 's3',
      streams: [
        {
          asset: 'line-1',
          stream_type: 'aoi-camera',
          key_pattern: 'line-1/{station}/{serial}_{taken_at}.{ext}',
          time_zone: 'UTC',
        },
      ],
    },
  ],
  data_transmit: ['inst-a', 'inst-b'].map((name) => ({
    transmit_name: name,
    transmit_type: 'instrumental',
    filter_stream: ['line-1:aoi-camera'],
    base_url: 'http://127.0.0.1:9',
    api_key_secret: 'bench/none',
    fields: {
      serialNumber: '{serial}',
      stationName: '{station}',
      imageType: 'Top',
      imageTimestamp: { iso8601Time: '{taken_at|iso8601}', ianaTimeZone: 'UTC' },
      fileName: '{object.basename}',
    },
  })),
};

const STATUSES = ['UPLOADED', 'UPLOADED', 'UPLOADED', 'PENDING_VALIDATION', 'REJECTED'] as const;

/** Record i: a delivery of unit SN-(i / 4) to one of the two destinations, as the router and forwarder write it. */
function item(i: number): Record<string, unknown> {
  const at = new Date(Date.UTC(2026, 0, 5, 8) + i * 1000).toISOString();
  const status = STATUSES[i % STATUSES.length] as string;
  const destination = i % 2 === 0 ? 'inst-a' : 'inst-b';
  return {
    pk: `object#bench-ingest/line-1/aoi-top/SN-${Math.floor(i / 4)}_${i}.jpg#v=${i.toString(36)}`,
    sk: `destination#${destination}`,
    status,
    vendor: 'instrumental',
    etag: 'e',
    size: 1000,
    asset: 'line-1',
    streamType: 'aoi-camera',
    serialNumber: `SN-${Math.floor(i / 4)}`,
    attempts: 1,
    createdAt: at,
    updatedAt: at,
    history: [`${at} ${status}`],
    ...(status === 'REJECTED'
      ? { outcome: `${destination}#REJECTED`, settledAt: at, lastError: { code: 'NOT_A_JPEG', message: 'x' } }
      : {}),
    ...(status === 'PENDING_VALIDATION' ? { due: `${destination}#PENDING_VALIDATION`, nextCheckAt: at } : {}),
  };
}

async function seed(stack: LocalStack, from: number, to: number): Promise<void> {
  const chunks: number[] = [];
  for (let i = from; i < to; i += 25) chunks.push(i);
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < chunks.length) {
        const start = chunks[next++] as number;
        let items = Array.from({ length: Math.min(25, to - start) }, (_, k) => item(start + k)).map(
          (Item) => ({
            PutRequest: { Item },
          }),
        );
        while (items.length > 0) {
          const out = await stack.clients.ddb.send(
            new BatchWriteCommand({ RequestItems: { [stack.tableName]: items } }),
          );
          items = (out.UnprocessedItems?.[stack.tableName] ?? []) as typeof items;
        }
      }
    }),
  );
}

async function measure(stack: LocalStack, records: number): Promise<OpsBenchRow> {
  const counters = new OpsCounters(relayTable(stack), stack.tableName);
  const table = new StatusTable(relayTable(stack), stack.tableName);
  const deps = {
    config: CONFIG,
    counters,
    destinationState: (name: string) => table.destinationState(name),
    dlqDepth: async (vendor: string) => {
      const url = stack.queues.vendors[vendor]?.dlq.url;
      if (!url) return undefined;
      const out = await stack.clients.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages'] }),
      );
      return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0);
    },
    now: Date.now,
  };
  await buildStatus(deps); // warm
  // destinationState reads are consistent Gets (1 unit each): counted by hand, they are not in OpsCounters.
  counters.readUnits = 0;
  const runs = 5;
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) await buildStatus(deps);
  const statusMs = (performance.now() - t0) / runs;
  const statusReadUnits = counters.readUnits / runs + CONFIG.data_transmit.length;
  // `relay where SN-…`: the bySerial query it runs (one unit's deliveries, newest first, a page of 50), then the
  // items by key.
  let whereReadUnits = 0;
  let whereItems = 0;
  const t1 = performance.now();
  for (let i = 0; i < runs; i++) {
    const out = await stack.clients.ddb.send(
      new QueryCommand({
        TableName: stack.tableName,
        IndexName: TABLE.indexes.bySerial.name,
        KeyConditionExpression: 'serialNumber = :sn',
        ExpressionAttributeValues: { ':sn': `SN-${Math.floor((records - 1) / 8)}` },
        ScanIndexForward: false,
        Limit: 50,
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    whereItems = out.Items?.length ?? 0;
    whereReadUnits += out.ConsumedCapacity?.CapacityUnits ?? 0;
    // The index holds keys only (TABLE.indexes.bySerial): the items are read by key, as StatusTable.query does.
    const keys = (out.Items ?? []).map((i) => ({ pk: i.pk, sk: i.sk }));
    if (keys.length > 0) {
      const got = await stack.clients.ddb.send(
        new BatchGetCommand({
          RequestItems: { [stack.tableName]: { Keys: keys } },
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
      for (const c of got.ConsumedCapacity ?? []) whereReadUnits += c.CapacityUnits ?? 0;
    }
  }
  const whereMs = (performance.now() - t1) / runs;
  return { records, statusMs, statusReadUnits, whereMs, whereItems, whereReadUnits: whereReadUnits / runs };
}

export async function runOps(opts: { records?: number } = {}): Promise<OpsBenchResult> {
  const total = opts.records ?? 100_000;
  const stack = await startLocalStack({
    config: CONFIG,
    vendors: ['instrumental'],
    logLevel: 'error',
    deferForwarders: ['instrumental'],
  });
  try {
    await seed(stack, 0, 10);
    await stack.aggregator.settled(300_000);
    const small = await measure(stack, 10);
    const t0 = performance.now();
    await seed(stack, 10, total);
    const seedMs = performance.now() - t0;
    await stack.aggregator.settled(600_000);
    const large = await measure(stack, total);
    const counters = new OpsCounters(relayTable(stack), stack.tableName);
    const got = await counters.destinations(['inst-a', 'inst-b']);
    const counted = [...got.values()].reduce(
      (n, c) => n + Object.values(c.counts).reduce((a, b) => a + (b ?? 0), 0),
      0,
    );
    return {
      rows: [small, large],
      seedMs,
      seedPerSecond: (total - 10) / (seedMs / 1000),
      countsMatch: counted === total,
    };
  } finally {
    await stack.stop();
  }
}

export function printOps(r: OpsBenchResult, log: (s?: string) => void): void {
  const [a, b] = r.rows;
  if (!a || !b) return;
  const f = (n: number, d = 1) => n.toFixed(d);
  log(
    `seeded ${b.records - a.records} records in ${f(r.seedMs / 1000)} s (${f(r.seedPerSecond, 0)}/s, BatchWriteItem × 8)`,
  );
  log(`counters after the seed: ${r.countsMatch ? 'sum of counts = records' : 'MISMATCH: counts ≠ records'}`);
  log('| figure | 10 records | 100,000 records | ratio |');
  log('|---|---|---|---|');
  log(
    `| GET /v1/status latency (ms, mean of 5) | ${f(a.statusMs)} | ${f(b.statusMs)} | ${f(b.statusMs / a.statusMs, 2)} × |`,
  );
  log(
    `| GET /v1/status read units | ${f(a.statusReadUnits)} | ${f(b.statusReadUnits)} | ${f(b.statusReadUnits / a.statusReadUnits, 2)} × |`,
  );
  log(
    `| bySerial query of \`relay where SERIAL\` (ms) | ${f(a.whereMs)} | ${f(b.whereMs)} | ${f(b.whereMs / a.whereMs, 2)} × |`,
  );
  log(
    `| its read units (${a.whereItems} / ${b.whereItems} items) | ${f(a.whereReadUnits)} | ${f(b.whereReadUnits)} | |`,
  );
}
