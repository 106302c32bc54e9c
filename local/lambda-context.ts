/**
 * A Lambda-like invocation: the Context object handlers receive and a timeout like Lambda's (the invocation
 * counts as failed when the deadline passes; the handler's promise cannot be killed in-process, so it is left to
 * finish on its own and its result ignored).
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

export interface FunctionSettings {
  functionName: string;
  /** Default 30 000 ms. */
  timeoutMs?: number;
  /** Default 128. */
  memoryMb?: number;
  region?: string;
  accountId?: string;
}

export function createLambdaContext(fn: FunctionSettings, requestId: string = randomUUID()): Context {
  const timeoutMs = fn.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  const region = fn.region ?? 'us-east-1';
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
  const deprecated = (name: string) => () => {
    throw new Error(`context.${name}() is not supported locally: return a value or a promise`);
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: fn.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${fn.accountId ?? '000000000000'}:function:${fn.functionName}`,
    memoryLimitInMB: String(fn.memoryMb ?? 128),
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${fn.functionName}`,
    logStreamName: `${day}/[$LATEST]${randomUUID().replaceAll('-', '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: deprecated('done'),
    fail: deprecated('fail'),
    succeed: deprecated('succeed'),
  };
}

export type InvocationOutcome<T> =
  | { status: 'ok'; value: T; durationMs: number }
  | { status: 'error'; error: unknown; durationMs: number }
  | { status: 'timeout'; durationMs: number };

/** A handler in the shape the runner calls: (event, context) → value or promise. */
export type LambdaFunction<E> = (event: E, context: Context) => unknown;

/** Calls `handler` and settles at the latest when the context's time is up. */
export async function invokeWithTimeout<E>(
  handler: LambdaFunction<E>,
  event: E,
  context: Context,
): Promise<InvocationOutcome<unknown>> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), context.getRemainingTimeInMillis());
  });
  try {
    const run = (async () => handler(event, context))();
    run.catch(() => {}); // a late rejection after a timeout must not become an unhandled rejection
    const winner = await Promise.race([run.then((value) => ({ value })), timeout]);
    if (winner === 'timeout') return { status: 'timeout', durationMs: Date.now() - started };
    return { status: 'ok', value: winner.value, durationMs: Date.now() - started };
  } catch (error) {
    return { status: 'error', error, durationMs: Date.now() - started };
  } finally {
    clearTimeout(timer);
  }
}
