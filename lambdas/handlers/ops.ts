/**
 * The ops API (docs/ops-api.md): every `/v1/...` route of the HTTP API → the route table in
 * lambdas/domain/ops/routes.ts, answered in FactoryTX's envelope. On AWS every route has IAM authorization (the
 * caller is the IAM ARN API Gateway passes); on the local stack nothing signs requests, and the caller is
 * `local:<x-relay-user>`.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { CloudWatchLogs } from '#adapters/cloudwatch-logs.ts';
import { createDocumentClient, OpsCounters } from '#adapters/dynamodb.ts';
import { LogFile } from '#adapters/log-file.ts';
import { OpsQueueAccess } from '#adapters/sqs.ts';
import { ENV, optionalEnv, requireEnv } from '#commons/env.ts';
import { dispatch } from '#domain/ops/routes.ts';
import type { OpsDeps, OpsRequest, QueueInfo } from '#domain/ops/types.ts';
import { configInUse, refreshConfig, runtime, useConfig } from './runtime.ts';

let cached: OpsDeps | undefined;

function deps(): OpsDeps {
  if (cached) return cached;
  const rt = runtime();
  const queues = JSON.parse(optionalEnv(ENV.opsQueues) ?? '[]') as QueueInfo[];
  const ingest = queues.find((q) => q.name === 'ingest') ?? { name: 'ingest', url: '', dlqUrl: '' };
  const groups = JSON.parse(optionalEnv(ENV.logGroups) ?? '[]') as string[];
  cached = {
    config: () => configInUse(rt),
    vendors: rt.vendors,
    table: rt.table,
    counters: new OpsCounters(createDocumentClient(), requireEnv(ENV.table)),
    objects: rt.objects,
    queues: new OpsQueueAccess(rt.queues, rt.sqs),
    logs: groups.length > 0 ? new CloudWatchLogs(groups) : new LogFile(optionalEnv(ENV.logFile)),
    ingestBucket: optionalEnv(ENV.ingestBucket) ?? '',
    ingestQueue: ingest,
    vendorQueues: queues.filter((q) => q.name !== 'ingest'),
    log: rt.log.child({ fn: 'ops' }),
    now: Date.now,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    configSaved: (v) => useConfig(rt, v),
    bakedConfigText: () => optionalEnv(ENV.configJson),
  };
  return cached;
}

/** Who is asking: the IAM caller on AWS (the authorizer's user ARN), else the local stack's operator. */
function callerOf(event: APIGatewayProxyEventV2): string {
  const iam = (event.requestContext as { authorizer?: { iam?: { userArn?: string; callerId?: string } } })
    .authorizer?.iam;
  if (iam?.userArn) return iam.userArn;
  const user = event.headers?.['x-relay-user']?.replace(/[^\x20-\x7e]/g, '?').slice(0, 64);
  return `local:${user || 'operator'}`;
}

export function toRequest(event: APIGatewayProxyEventV2): OpsRequest {
  const body =
    event.body === undefined
      ? undefined
      : event.isBase64Encoded
        ? Buffer.from(event.body, 'base64').toString('utf8')
        : event.body;
  return {
    method: event.requestContext.http.method,
    routeKey: event.routeKey,
    rawPath: event.rawPath,
    ...(event.requestContext.requestId ? { requestId: event.requestContext.requestId } : {}),
    path: (event.pathParameters ?? {}) as Record<string, string>,
    query: (event.queryStringParameters ?? {}) as Record<string, string>,
    ...(body !== undefined ? { body } : {}),
    ...(event.headers?.['content-type'] ? { contentType: event.headers['content-type'] } : {}),
    by: callerOf(event),
  };
}

export async function onOps(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
  const d = deps();
  await refreshConfig(runtime());
  const result = await dispatch(toRequest(event), d);
  return {
    statusCode: result.statusCode,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
    body: JSON.stringify(result.body),
  };
}

export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>().handler(onOps);
