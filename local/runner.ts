/**
 * The local Lambda event-source runner: what AWS Lambda's SQS event source mapping, EventBridge Scheduler and an
 * API Gateway HTTP API do for the relay's handlers, in-process.
 *
 * SQS mapping semantics (as Lambda's):
 * - long-polls the queue (WaitTimeSeconds 1, so stop() is quick); up to `maxConcurrency` batches in flight;
 *   stop() lets the long polls end instead of aborting them (fauxqs keeps an aborted poll's waiter and hands it
 *   the next message, which then stays invisible for the visibility timeout: minutes after a restart on a data
 *   dir), and gives back at once (visibility 0) what a poll returns after stop();
 * - builds the SQSEvent Lambda builds (Records[].messageId, receiptHandle, body, attributes, messageAttributes
 *   {stringValue, stringListValues, binaryListValues, dataType}, md5OfBody, eventSource, eventSourceARN,
 *   awsRegion) and a Lambda-like Context (getRemainingTimeInMillis from the function timeout);
 * - success → DeleteMessageBatch of the whole batch; a thrown error or a timeout → nothing deleted (the batch
 *   comes back after the visibility timeout and goes to the DLQ after maxReceiveCount);
 * - with reportBatchItemFailures: a response listing `batchItemFailures` deletes every other record and leaves
 *   the listed ones (their visibility may have been changed by the handler); an empty or null list, or no
 *   response, is success for all; an itemIdentifier that is empty, not a string or not in the batch, or a
 *   response that is not an object, fails the whole batch (Lambda's rules).
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, SQSEvent, SQSMessageAttributes, SQSRecord } from 'aws-lambda';
import { SCHEDULE_EVENT_SOURCE, SCHEDULE_SKIPS_OVERLAP } from './assumptions.ts';
import { type HttpApi, startHttpApi } from './http-api.ts';
import {
  createLambdaContext,
  type InvocationOutcome,
  invokeWithTimeout,
  type LambdaFunction,
} from './lambda-context.ts';

export interface SqsMappingOptions {
  /** Function name in the Context and in events (default: `<queue name>-consumer`). */
  functionName?: string;
  queueUrl: string;
  queueArn: string;
  handler: LambdaFunction<SQSEvent>;
  /** 1–10 000 (default 10). */
  batchSize?: number;
  /** 0–300 000 ms (default 0); Lambda requires ≥ 1 s when batchSize > 10. */
  maximumBatchingWindowMs?: number;
  /** 2–1000, as Lambda's ScalingConfig (default 2). */
  maxConcurrency?: number;
  /** Default 30 000 ms. */
  functionTimeoutMs?: number;
  /** Lambda's FunctionResponseTypes: ['ReportBatchItemFailures'] (default false, as on Lambda). */
  reportBatchItemFailures?: boolean;
}

export interface ScheduleOptions {
  name: string;
  everyMs: number;
  handler: LambdaFunction<unknown>;
  functionName?: string;
  functionTimeoutMs?: number;
  /** The schedule's Input (the event, verbatim). Default: a Scheduler-like "Scheduled Event". */
  input?: unknown;
}

export interface HttpRouteOptions {
  /** `METHOD /path/{param}/{greedy+}`, `ANY /path`, or `$default`. */
  routeKey: string;
  handler: LambdaFunction<APIGatewayProxyEventV2>;
  functionName?: string;
  functionTimeoutMs?: number;
}

export interface ServeHttpApiOptions {
  port?: number;
  routes: HttpRouteOptions[];
  /** Default 30 000 ms (API Gateway's hard limit). */
  integrationTimeoutMs?: number;
}

export type InvocationKind = 'sqs' | 'schedule' | 'http';

export interface InvocationStart {
  kind: InvocationKind;
  functionName: string;
  requestId: string;
  /** Queue name, schedule name or route key. */
  source: string;
  /** SQS: number of records. */
  records?: number;
}

export interface InvocationEnd extends InvocationStart {
  /** success: all done; partial: some records reported failed; failed: threw (or bad batch response); timeout. */
  outcome: 'success' | 'partial' | 'failed' | 'timeout';
  durationMs: number;
  failedMessageIds?: string[];
  error?: unknown;
}

export interface Mapping {
  readonly functionName: string;
  stop(): Promise<void>;
}

export interface ScheduleHandle {
  readonly name: string;
  /** Invokes now (regardless of the timer). */
  trigger(): Promise<InvocationEnd>;
  stop(): void;
}

export interface LocalRunnerOptions {
  sqs: SQSClient;
  region?: string;
  accountId?: string;
}

export type RunnerEvents = {
  invoke: [InvocationStart];
  result: [InvocationEnd];
  pollError: [{ functionName: string; error: unknown }];
  deleteError: [{ functionName: string; messageIds: string[]; error: unknown }];
  badBatchResponse: [{ functionName: string; requestId: string; response: unknown }];
};

function toMessageAttributes(attrs: Record<string, MessageAttributeValue> | undefined): SQSMessageAttributes {
  const out: SQSMessageAttributes = {};
  for (const [name, a] of Object.entries(attrs ?? {})) {
    out[name] = {
      ...(a.StringValue !== undefined ? { stringValue: a.StringValue } : {}),
      ...(a.BinaryValue !== undefined ? { binaryValue: Buffer.from(a.BinaryValue).toString('base64') } : {}),
      stringListValues: a.StringListValues ?? [],
      binaryListValues: (a.BinaryListValues ?? []).map((b) => Buffer.from(b).toString('base64')),
      dataType: a.DataType ?? 'String',
    };
  }
  return out;
}

/** A received SQS message as a Lambda SQS record. */
export function toSqsRecord(m: Message, queueArn: string, region: string): SQSRecord {
  const a = m.Attributes ?? {};
  const optional = (
    name: 'SequenceNumber' | 'MessageGroupId' | 'MessageDeduplicationId' | 'AWSTraceHeader',
  ) => (a[name] !== undefined ? { [name]: a[name] } : {});
  return {
    messageId: m.MessageId ?? '',
    receiptHandle: m.ReceiptHandle ?? '',
    body: m.Body ?? '',
    attributes: {
      ApproximateReceiveCount: a.ApproximateReceiveCount ?? '1',
      SentTimestamp: a.SentTimestamp ?? String(Date.now()),
      SenderId: a.SenderId ?? '000000000000',
      ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      ...optional('SequenceNumber'),
      ...optional('MessageGroupId'),
      ...optional('MessageDeduplicationId'),
      ...optional('AWSTraceHeader'),
    },
    messageAttributes: toMessageAttributes(m.MessageAttributes),
    md5OfBody: m.MD5OfBody ?? '',
    ...(m.MD5OfMessageAttributes ? { md5OfMessageAttributes: m.MD5OfMessageAttributes } : {}),
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: region,
  };
}

/**
 * Which records of a batch failed, by Lambda's rules for a partial batch response. `undefined` means "the whole
 * batch failed" (invalid response); an empty array means "all succeeded".
 */
export function failedRecords(response: unknown, records: SQSRecord[]): SQSRecord[] | undefined {
  if (response === undefined || response === null) return [];
  if (typeof response !== 'object' || Array.isArray(response)) return undefined;
  const list = (response as { batchItemFailures?: unknown }).batchItemFailures;
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) return undefined;
  const byId = new Map(records.map((r) => [r.messageId, r]));
  const failed = new Map<string, SQSRecord>();
  for (const item of list) {
    const id =
      item && typeof item === 'object' ? (item as { itemIdentifier?: unknown }).itemIdentifier : undefined;
    if (typeof id !== 'string' || id === '' || !byId.has(id)) return undefined;
    failed.set(id, byId.get(id)!);
  }
  return [...failed.values()];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class LocalRunner extends EventEmitter<RunnerEvents> {
  readonly region: string;
  readonly accountId: string;
  private readonly sqs: SQSClient;
  private readonly inFlightSet = new Set<Promise<unknown>>();
  private readonly mappings: Mapping[] = [];
  private readonly schedules = new Map<string, ScheduleHandle>();
  private readonly apis: HttpApi[] = [];
  private stopped = false;

  constructor(opts: LocalRunnerOptions) {
    super();
    this.sqs = opts.sqs;
    this.region = opts.region ?? 'us-east-1';
    this.accountId = opts.accountId ?? '000000000000';
  }

  /** Invocations running now (all kinds). */
  get inFlight(): number {
    return this.inFlightSet.size;
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlightSet.add(p);
    p.finally(() => this.inFlightSet.delete(p)).catch(() => {});
    return p;
  }

  /** Runs one invocation with events; never throws. */
  private async invoke<E>(
    start: InvocationStart,
    handler: LambdaFunction<E>,
    event: E,
    timeoutMs: number,
  ): Promise<InvocationOutcome<unknown>> {
    const context = createLambdaContext(
      { functionName: start.functionName, timeoutMs, region: this.region, accountId: this.accountId },
      start.requestId,
    );
    this.emit('invoke', start);
    return invokeWithTimeout(handler, event, context);
  }

  private end(
    start: InvocationStart,
    outcome: InvocationOutcome<unknown>,
    extra: Partial<InvocationEnd> = {},
  ) {
    const e: InvocationEnd = {
      ...start,
      outcome: outcome.status === 'ok' ? 'success' : outcome.status === 'timeout' ? 'timeout' : 'failed',
      durationMs: outcome.durationMs,
      ...(outcome.status === 'error' ? { error: outcome.error } : {}),
      ...extra,
    };
    this.emit('result', e);
    return e;
  }

  addSqsMapping(opts: SqsMappingOptions): Mapping {
    if (this.stopped) throw new Error('runner stopped');
    const batchSize = opts.batchSize ?? 10;
    const windowMs = opts.maximumBatchingWindowMs ?? 0;
    const maxConcurrency = opts.maxConcurrency ?? 2;
    const timeoutMs = opts.functionTimeoutMs ?? 30_000;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000)
      throw new RangeError(`batchSize must be 1–10000 (got ${batchSize})`);
    if (windowMs < 0 || windowMs > 300_000) throw new RangeError(`maximumBatchingWindowMs must be 0–300000`);
    if (batchSize > 10 && windowMs < 1000)
      throw new RangeError('Lambda requires a batching window of at least 1 s when batchSize > 10');
    if (!Number.isInteger(maxConcurrency) || maxConcurrency < 2 || maxConcurrency > 1000)
      throw new RangeError(
        `maxConcurrency must be 2–1000, as Lambda's ScalingConfig (got ${maxConcurrency})`,
      );
    const queueName = opts.queueArn.split(':').pop() ?? opts.queueUrl;
    const functionName = opts.functionName ?? `${queueName}-consumer`;
    let active = true;

    const receive = async (max: number, waitSeconds: number): Promise<Message[]> => {
      const out = await this.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: opts.queueUrl,
          MaxNumberOfMessages: max,
          WaitTimeSeconds: waitSeconds,
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
        }),
      );
      return out.Messages ?? [];
    };

    /** Messages received after stop(): visible again now, for whoever reads the queue next. */
    const release = async (messages: Message[]) => {
      for (let i = 0; i < messages.length; i += 10) {
        const chunk = messages.slice(i, i + 10);
        try {
          await this.sqs.send(
            new ChangeMessageVisibilityBatchCommand({
              QueueUrl: opts.queueUrl,
              Entries: chunk.map((m, n) => ({
                Id: String(n),
                ReceiptHandle: m.ReceiptHandle ?? '',
                VisibilityTimeout: 0,
              })),
            }),
          );
        } catch (error) {
          // Not released: they come back after their visibility timeout, as after a crash.
          this.emit('pollError', { functionName, error });
        }
      }
    };

    const settle = async (toDelete: SQSRecord[]) => {
      for (let i = 0; i < toDelete.length; i += 10) {
        const chunk = toDelete.slice(i, i + 10);
        try {
          const out = await this.sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: opts.queueUrl,
              Entries: chunk.map((r, n) => ({ Id: String(n), ReceiptHandle: r.receiptHandle })),
            }),
          );
          if (out.Failed && out.Failed.length > 0) {
            const ids = out.Failed.map((f) => chunk[Number(f.Id)]?.messageId ?? '?');
            this.emit('deleteError', { functionName, messageIds: ids, error: out.Failed });
          }
        } catch (error) {
          this.emit('deleteError', { functionName, messageIds: chunk.map((r) => r.messageId), error });
        }
      }
    };

    const runBatch = async (messages: Message[]) => {
      const records = messages.map((m) => toSqsRecord(m, opts.queueArn, this.region));
      const start: InvocationStart = {
        kind: 'sqs',
        functionName,
        requestId: randomUUID(),
        source: queueName,
        records: records.length,
      };
      // The handler gets its own copy: what it does to the event cannot change what is deleted.
      const event: SQSEvent = { Records: structuredClone(records) };
      const outcome = await this.invoke(start, opts.handler, event, timeoutMs);
      if (outcome.status !== 'ok') {
        this.end(start, outcome, { failedMessageIds: records.map((r) => r.messageId) });
        return;
      }
      if (!opts.reportBatchItemFailures) {
        await settle(records);
        this.end(start, outcome);
        return;
      }
      const failed = failedRecords(outcome.value, records);
      if (failed === undefined) {
        this.emit('badBatchResponse', { functionName, requestId: start.requestId, response: outcome.value });
        this.end(start, outcome, { outcome: 'failed', failedMessageIds: records.map((r) => r.messageId) });
        return;
      }
      const failedIds = new Set(failed.map((r) => r.messageId));
      await settle(records.filter((r) => !failedIds.has(r.messageId)));
      this.end(
        start,
        outcome,
        failed.length > 0 ? { outcome: 'partial', failedMessageIds: [...failedIds] } : {},
      );
    };

    const worker = async () => {
      while (active) {
        let batch: Message[];
        try {
          batch = await receive(Math.min(10, batchSize), 1);
          if (!active) {
            await release(batch);
            break;
          }
          if (batch.length > 0 && windowMs > 0) {
            const until = Date.now() + windowMs;
            while (active && batch.length < batchSize && Date.now() < until) {
              const more = await receive(Math.min(10, batchSize - batch.length), 0);
              if (more.length === 0) await sleep(Math.min(100, Math.max(0, until - Date.now())));
              batch.push(...more);
            }
          }
        } catch (error) {
          if (!active) break;
          this.emit('pollError', { functionName, error });
          await sleep(250);
          continue;
        }
        if (batch.length === 0) continue;
        await this.track(runBatch(batch));
      }
    };

    const workers = Array.from({ length: maxConcurrency }, () => worker());
    const mapping: Mapping = {
      functionName,
      stop: async () => {
        active = false;
        await Promise.allSettled(workers);
      },
    };
    this.mappings.push(mapping);
    return mapping;
  }

  addSchedule(opts: ScheduleOptions): ScheduleHandle {
    if (this.stopped) throw new Error('runner stopped');
    if (this.schedules.has(opts.name)) throw new Error(`schedule ${opts.name} exists`);
    if (!(opts.everyMs > 0)) throw new RangeError('everyMs must be > 0');
    const functionName = opts.functionName ?? `${opts.name}-function`;
    const timeoutMs = opts.functionTimeoutMs ?? 30_000;
    const scheduleArn = `arn:aws:scheduler:${this.region}:${this.accountId}:schedule/default/${opts.name}`;
    let running: Promise<InvocationEnd> | undefined;

    const fire = (): Promise<InvocationEnd> => {
      const now = new Date();
      const event =
        opts.input !== undefined
          ? structuredClone(opts.input)
          : {
              version: '0',
              id: randomUUID(),
              'detail-type': 'Scheduled Event',
              source: SCHEDULE_EVENT_SOURCE,
              account: this.accountId,
              time: `${now.toISOString().slice(0, 19)}Z`,
              region: this.region,
              resources: [scheduleArn],
              detail: {},
            };
      const start: InvocationStart = {
        kind: 'schedule',
        functionName,
        requestId: randomUUID(),
        source: opts.name,
      };
      return this.track(
        (async () => this.end(start, await this.invoke(start, opts.handler, event, timeoutMs)))(),
      );
    };

    // A tick is skipped while the previous invocation still runs (locally one poller at a time is enough).
    const timer = setInterval(() => {
      if (this.stopped || (running && SCHEDULE_SKIPS_OVERLAP)) return;
      running = fire().finally(() => {
        running = undefined;
      });
    }, opts.everyMs);
    const handle: ScheduleHandle = {
      name: opts.name,
      trigger: fire,
      stop: () => clearInterval(timer),
    };
    this.schedules.set(opts.name, handle);
    return handle;
  }

  /** Invokes a schedule's handler now. */
  triggerSchedule(name: string): Promise<InvocationEnd> {
    const s = this.schedules.get(name);
    if (!s) throw new Error(`no schedule named ${name}`);
    return s.trigger();
  }

  async serveHttpApi(opts: ServeHttpApiOptions): Promise<HttpApi> {
    if (this.stopped) throw new Error('runner stopped');
    const api = await startHttpApi({
      port: opts.port,
      integrationTimeoutMs: opts.integrationTimeoutMs,
      accountId: this.accountId,
      routes: opts.routes.map((r) => {
        const functionName =
          r.functionName ?? `http-${r.routeKey.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '')}`;
        return {
          routeKey: r.routeKey,
          invoke: (event: APIGatewayProxyEventV2, integrationTimeoutMs: number) => {
            const start: InvocationStart = {
              kind: 'http',
              functionName,
              requestId: randomUUID(),
              source: r.routeKey,
            };
            const timeoutMs = Math.min(r.functionTimeoutMs ?? 30_000, integrationTimeoutMs);
            return this.track(
              (async () => {
                const outcome = await this.invoke(start, r.handler, event, timeoutMs);
                this.end(start, outcome);
                return outcome;
              })(),
            );
          },
        };
      }),
    });
    this.apis.push(api);
    return api;
  }

  /** Stops polling, timers and HTTP servers; waits for invocations in flight (each ends by its timeout). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const s of this.schedules.values()) s.stop();
    const apis = this.apis.map((a) => a.stop());
    await Promise.allSettled(this.mappings.map((m) => m.stop()));
    while (this.inFlightSet.size > 0) await Promise.allSettled([...this.inFlightSet]);
    await Promise.allSettled(apis);
  }
}
