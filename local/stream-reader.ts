/**
 * What Lambda's DynamoDB Streams event source mapping does for the aggregator, locally: reads the status table's
 * stream on DynamoDB Local through the real SDK (@aws-sdk/client-dynamodb-streams: DescribeStream,
 * GetShardIterator, GetRecords), builds the DynamoDBStreamEvent Lambda builds, and invokes the handler.
 *
 * As Lambda's mapping:
 * - one reader per shard, batches in order (`batchSize` records at most); an idle shard is polled every
 *   `idleMs` (Lambda polls four times a second);
 * - a failed or timed-out invocation is retried; with `bisectOnError` a failing batch is split in halves, each
 *   retried on its own, down to one record; a batch out of retries goes to `onFailure` (on AWS: the on-failure
 *   SQS queue) and the shard moves on;
 * - starts at LATEST on the shards open when it starts (the stack starts it before any handler writes), and at
 *   TRIM_HORIZON on shards that appear later (a rolled-over shard's children).
 *
 * It is event-driven for its users: it emits `batch` after each invocation and `poll` after each GetRecords, and
 * `settled()` resolves once every shard has been read to its end after the call, so that tests and the bench wait
 * for the counters to catch up without sleeping.
 */
import { EventEmitter } from 'node:events';
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record as StreamRecord,
} from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { FAKE_CREDENTIALS } from './aws-env.ts';
import { createLambdaContext, invokeWithTimeout, type LambdaFunction } from './lambda-context.ts';

export interface StreamReaderOptions {
  dynamodb: DynamoDBClient;
  endpoint: string;
  region: string;
  tableName: string;
  handler: LambdaFunction<DynamoDBStreamEvent>;
  functionName?: string;
  functionTimeoutMs?: number;
  /** Records per invocation (default 100, Lambda's default for DynamoDB streams). */
  batchSize?: number;
  /** Wait between polls of a shard that had nothing new (default 250 ms). */
  idleMs?: number;
  /** Retries of a failing batch before it is given up (default 3). */
  maxRetries?: number;
  /** Split a failing batch in halves (default true). */
  bisectOnError?: boolean;
  /** A batch given up: on AWS its description goes to the on-failure queue. */
  onFailure?: (failure: StreamFailure) => void;
}

export interface StreamFailure {
  shardId: string;
  firstSequenceNumber: string;
  lastSequenceNumber: string;
  records: number;
  error: string;
}

interface ReaderEvents {
  batch: [{ shardId: string; records: number; ok: boolean; durationMs: number }];
  poll: [{ shardId: string; records: number }];
  failure: [StreamFailure];
}

export interface StreamReader extends EventEmitter<ReaderEvents> {
  streamArn: string;
  /** Batches given up so far. */
  readonly failures: StreamFailure[];
  /** Invocations so far. */
  readonly invocations: number;
  /** Resolves once every shard has been read to its end (a GetRecords with nothing new) after this call. */
  settled(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

const toLambdaRecord = (r: StreamRecord, streamArn: string, region: string): DynamoDBRecord => {
  const d = r.dynamodb ?? {};
  const created = d.ApproximateCreationDateTime;
  return {
    eventID: r.eventID,
    eventName: r.eventName,
    eventVersion: r.eventVersion ?? '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: r.awsRegion ?? region,
    eventSourceARN: streamArn,
    dynamodb: {
      ...(created ? { ApproximateCreationDateTime: Math.floor(new Date(created).getTime() / 1000) } : {}),
      Keys: d.Keys as NonNullable<DynamoDBRecord['dynamodb']>['Keys'],
      ...(d.NewImage ? { NewImage: d.NewImage as NonNullable<DynamoDBRecord['dynamodb']>['NewImage'] } : {}),
      ...(d.OldImage ? { OldImage: d.OldImage as NonNullable<DynamoDBRecord['dynamodb']>['OldImage'] } : {}),
      SequenceNumber: d.SequenceNumber,
      SizeBytes: d.SizeBytes,
      StreamViewType: d.StreamViewType,
    },
  } as DynamoDBRecord;
};

export async function startStreamReader(opts: StreamReaderOptions): Promise<StreamReader> {
  const table = (await opts.dynamodb.send(new DescribeTableCommand({ TableName: opts.tableName }))).Table;
  const streamArn = table?.LatestStreamArn;
  if (!streamArn) throw new Error(`table ${opts.tableName} has no stream (StreamSpecification)`);
  const client = new DynamoDBStreamsClient({
    region: opts.region,
    endpoint: opts.endpoint,
    credentials: { ...FAKE_CREDENTIALS },
  });
  const batchSize = opts.batchSize ?? 100;
  const idleMs = opts.idleMs ?? 250;
  const maxRetries = opts.maxRetries ?? 3;
  const bisect = opts.bisectOnError ?? true;
  const functionName = opts.functionName ?? 'aggregator';
  const timeoutMs = opts.functionTimeoutMs ?? 60_000;

  const emitter = new EventEmitter<ReaderEvents>();
  const failures: StreamFailure[] = [];
  const stopController = new AbortController();
  const loops = new Map<string, Promise<void>>();
  /** Per shard: the number of the latest poll that found nothing new (polls are numbered as they start). */
  const drainedAt = new Map<string, number>();
  let pollNumber = 0;
  let invocations = 0;

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      if (stopController.signal.aborted) return resolve();
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        stopController.signal.removeEventListener('abort', done);
        resolve();
      }
      stopController.signal.addEventListener('abort', done, { once: true });
    });

  const invoke = async (shardId: string, records: StreamRecord[]): Promise<boolean> => {
    const event: DynamoDBStreamEvent = {
      Records: records.map((r) => toLambdaRecord(r, streamArn, opts.region)),
    };
    const context = createLambdaContext({ functionName, timeoutMs });
    invocations++;
    const out = await invokeWithTimeout(opts.handler, event, context);
    emitter.emit('batch', {
      shardId,
      records: records.length,
      ok: out.status === 'ok',
      durationMs: out.durationMs,
    });
    if (out.status === 'ok') return true;
    lastError = out.status === 'timeout' ? 'timeout' : String((out.error as Error)?.message ?? out.error);
    return false;
  };
  let lastError = '';

  /** One batch to its end: retried, bisected, or given up (never blocks the shard forever). */
  const process = async (shardId: string, records: StreamRecord[]): Promise<void> => {
    for (let attempt = 0; !stopController.signal.aborted; attempt++) {
      if (await invoke(shardId, records)) return;
      if (bisect && records.length > 1) {
        const half = Math.ceil(records.length / 2);
        await process(shardId, records.slice(0, half));
        await process(shardId, records.slice(half));
        return;
      }
      if (attempt >= maxRetries) break;
      await pause(100 * (attempt + 1));
    }
    if (stopController.signal.aborted) return;
    const failure: StreamFailure = {
      shardId,
      firstSequenceNumber: records[0]?.dynamodb?.SequenceNumber ?? '',
      lastSequenceNumber: records[records.length - 1]?.dynamodb?.SequenceNumber ?? '',
      records: records.length,
      error: lastError,
    };
    failures.push(failure);
    emitter.emit('failure', failure);
    opts.onFailure?.(failure);
  };

  const readShard = async (shardId: string, first: string | undefined): Promise<void> => {
    let iterator = first;
    while (iterator && !stopController.signal.aborted) {
      const n = ++pollNumber;
      const out = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: batchSize }));
      const records = out.Records ?? [];
      if (records.length > 0) await process(shardId, records);
      iterator = out.NextShardIterator;
      if (records.length === 0 || !iterator) drainedAt.set(shardId, n);
      emitter.emit('poll', { shardId, records: records.length });
      if (records.length === 0 && iterator) await pause(idleMs);
    }
  };

  /** Takes the shard's iterator (awaited: a LATEST iterator marks where reading starts), then reads on. */
  const startShard = async (shardId: string, iteratorType: 'LATEST' | 'TRIM_HORIZON') => {
    if (loops.has(shardId)) return;
    loops.set(shardId, Promise.resolve());
    const iterator = (
      await client.send(
        new GetShardIteratorCommand({
          StreamArn: streamArn,
          ShardId: shardId,
          ShardIteratorType: iteratorType,
        }),
      )
    ).ShardIterator;
    const loop = readShard(shardId, iterator).catch((err: unknown) => {
      if (!stopController.signal.aborted) console.error(`stream reader: shard ${shardId} stopped:`, err);
      drainedAt.set(shardId, Number.MAX_SAFE_INTEGER);
    });
    loops.set(shardId, loop);
  };

  const shards = async () =>
    (await client.send(new DescribeStreamCommand({ StreamArn: streamArn }))).StreamDescription?.Shards ?? [];
  for (const s of await shards())
    if (s.ShardId && !s.SequenceNumberRange?.EndingSequenceNumber) await startShard(s.ShardId, 'LATEST');
  // New shards (a rolled-over shard's children) are found every few seconds and read from their start.
  const discovery = (async () => {
    while (!stopController.signal.aborted) {
      await pause(5_000);
      if (stopController.signal.aborted) break;
      try {
        for (const s of await shards()) if (s.ShardId) await startShard(s.ShardId, 'TRIM_HORIZON');
      } catch {
        // the next round tries again
      }
    }
  })();

  let stopping: Promise<void> | undefined;
  Object.defineProperty(emitter, 'invocations', { get: () => invocations, enumerable: true });
  return Object.assign(emitter as EventEmitter<ReaderEvents> & { readonly invocations: number }, {
    streamArn,
    failures,
    settled(timeoutMs = 60_000): Promise<void> {
      const mark = pollNumber;
      const done = () => [...loops.keys()].every((id) => (drainedAt.get(id) ?? 0) > mark);
      if (loops.size === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          emitter.off('poll', check);
          reject(new Error(`the stream reader did not catch up within ${timeoutMs} ms`));
        }, timeoutMs);
        function check() {
          if (!done()) return;
          clearTimeout(timer);
          emitter.off('poll', check);
          resolve();
        }
        emitter.on('poll', check);
      });
    },
    stop(): Promise<void> {
      stopping ??= (async () => {
        stopController.abort();
        await Promise.allSettled([...loops.values(), discovery]);
        client.destroy();
      })();
      return stopping;
    },
  });
}
