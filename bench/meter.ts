/**
 * Counts what the relay's handlers ask of AWS, for the cost section (cost.ts), and is reusable on its own: wrap
 * each handler with `meter.handler(fn, memoryMb, handler)`, `install()` the meter, `start()` it, push files
 * through the local stack, then read `meter.calls` / `meter.invocations` (or `summarize`).
 *
 * - Every AWS call of the relay's adapters is published on their diagnostics channel
 *   (lambdas/adapters/aws/transport.ts). The meter records service, operation, outcome and, for DynamoDB, the
 *   consumed capacity: it sets `ReturnConsumedCapacity: 'INDEXES'` on every operation that takes it (the
 *   request body is published before it is sent), so index writes are counted too.
 * - Only calls made inside a metered handler invocation are recorded (an AsyncLocalStorage context set by the
 *   handler wrapper), attributed to that function; the bench's own uploads and reads are not.
 * - A failed conditional write returns no consumed capacity; AWS bills it by the size of the existing item,
 *   at least 1 write unit. It is counted as 1 write unit (every item the relay writes is under 1 KB).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { AWS_CALLS, type AwsCallEvent, type AwsService } from '#adapters/aws/transport.ts';

/** The service names the cost section prices (as the SDK's clients named them). */
const SERVICE_NAMES: Readonly<Record<AwsService, string>> = {
  dynamodb: 'DynamoDB',
  s3: 'S3',
  sqs: 'SQS',
  secretsmanager: 'SecretsManager',
  logs: 'CloudWatchLogs',
};

export interface MeteredCall {
  fn: string;
  service: string;
  operation: string;
  ok: boolean;
  errorName?: string;
  /** DynamoDB: the item kind (`object`, `ratelimit`, `destination`, `cache`, `content`) or `query:<index>`. */
  target?: string;
  /** DynamoDB consumed capacity (read or write units by the operation), table + indexes, and the indexes' part. */
  readUnits: number;
  writeUnits: number;
  indexReadUnits: number;
  indexWriteUnits: number;
  /** A write whose condition failed (counted as 1 write unit). */
  failedConditional: boolean;
}

export interface MeteredInvocation {
  fn: string;
  ms: number;
  memoryMb: number;
  ok: boolean;
}

const DYNAMODB_WRITES = new Set([
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'BatchWriteItem',
  'TransactWriteItems',
]);
const DYNAMODB_CAPACITY = new Set([
  ...DYNAMODB_WRITES,
  'GetItem',
  'Query',
  'Scan',
  'BatchGetItem',
  'TransactGetItems',
]);

interface Capacity {
  CapacityUnits?: number;
  GlobalSecondaryIndexes?: Record<string, { CapacityUnits?: number }>;
  LocalSecondaryIndexes?: Record<string, { CapacityUnits?: number }>;
}

function capacityOf(consumed: Capacity | Capacity[] | undefined): { total: number; indexes: number } {
  const list = Array.isArray(consumed) ? consumed : consumed ? [consumed] : [];
  let total = 0;
  let indexes = 0;
  for (const c of list) {
    total += c.CapacityUnits ?? 0;
    for (const idx of [c.GlobalSecondaryIndexes, c.LocalSecondaryIndexes])
      for (const i of Object.values(idx ?? {})) indexes += i.CapacityUnits ?? 0;
  }
  return { total, indexes };
}

/** `object#…` → `object`; a Query → `query:<index or table>`. */
function targetOf(operation: string, input: Record<string, unknown>): string | undefined {
  if (operation === 'Query' || operation === 'Scan')
    return `${operation.toLowerCase()}:${(input.IndexName as string | undefined) ?? 'table'}`;
  const key = (input.Key ?? input.Item) as Record<string, unknown> | undefined;
  const pk = key?.pk;
  const text = typeof pk === 'string' ? pk : (pk as { S?: string } | undefined)?.S;
  return text ? text.slice(0, Math.max(0, text.indexOf('#'))) || text : undefined;
}

export class AwsMeter {
  readonly calls: MeteredCall[] = [];
  readonly invocations: MeteredInvocation[] = [];
  private readonly context = new AsyncLocalStorage<string>();
  private recording = false;

  /** Records from now on (after clearing what was recorded). */
  start(): void {
    this.calls.length = 0;
    this.invocations.length = 0;
    this.recording = true;
  }

  stop(): void {
    this.recording = false;
  }

  /** Wraps a handler: its invocations are timed and its AWS calls attributed to `fn`. */
  handler<E, C, R>(
    fn: string,
    memoryMb: number,
    run: (event: E, context: C) => Promise<R> | R,
  ): (event: E, context: C) => Promise<R> {
    return (event, context) =>
      this.context.run(fn, async () => {
        const t0 = performance.now();
        let ok = false;
        try {
          const out = await run(event, context);
          ok = true;
          return out;
        } finally {
          if (this.recording) this.invocations.push({ fn, ms: performance.now() - t0, memoryMb, ok });
        }
      });
  }

  /** Counts every AWS call the relay's adapters make in this process (their diagnostics channel); returns the undo. */
  install(): () => void {
    const calls = new WeakMap<AwsCallEvent, MeteredCall>();
    const listener = (message: unknown) => {
      const event = message as AwsCallEvent;
      if (event.phase === 'start') {
        const fn = this.context.getStore();
        if (!this.recording || fn === undefined) return;
        const service = SERVICE_NAMES[event.service];
        const dynamo = service === 'DynamoDB' && DYNAMODB_CAPACITY.has(event.operation);
        if (dynamo && event.input) event.input.ReturnConsumedCapacity = 'INDEXES';
        const call: MeteredCall = {
          fn,
          service,
          operation: event.operation,
          ok: true,
          readUnits: 0,
          writeUnits: 0,
          indexReadUnits: 0,
          indexWriteUnits: 0,
          failedConditional: false,
        };
        if (service === 'DynamoDB') call.target = targetOf(event.operation, event.input ?? {});
        this.calls.push(call);
        calls.set(event, call);
        return;
      }
      const call = calls.get(event);
      if (!call) return;
      const writes = DYNAMODB_WRITES.has(call.operation);
      if (event.error) {
        call.ok = false;
        call.errorName = event.error.name;
        if (writes && /ConditionalCheckFailed|TransactionCanceled/.test(call.errorName)) {
          call.failedConditional = true;
          call.writeUnits = 1;
        }
        return;
      }
      if (call.service === 'DynamoDB' && DYNAMODB_CAPACITY.has(call.operation)) {
        const output = (event.output ?? {}) as Record<string, unknown>;
        const c = capacityOf(output.ConsumedCapacity as Capacity | Capacity[] | undefined);
        if (writes) {
          call.writeUnits = c.total;
          call.indexWriteUnits = c.indexes;
        } else {
          call.readUnits = c.total;
          call.indexReadUnits = c.indexes;
        }
      }
    };
    AWS_CALLS.subscribe(listener);
    return () => {
      AWS_CALLS.unsubscribe(listener);
    };
  }
}
