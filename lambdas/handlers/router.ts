/**
 * Router Lambda: ingest queue (S3 event notifications) → delivery records → vendor queues.
 * Partial batch responses: one bad message does not fail its neighbours.
 */
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { queueUrlFromArn } from '#adapters/sqs.ts';
import { ENV, requireEnv } from '#commons/env.ts';
import { errorMessage } from '#commons/errors.ts';
import { MalformedEventError, type RouterDeps, routeMessage } from '#domain/route.ts';
import { refreshConfig, runtime } from './runtime.ts';
import { sourceMappedErrors } from './source-maps.ts';

let cachedDeps: RouterDeps | undefined;

/** Built once per cold start: the config, clients and queue URLs do not change between batches. */
function deps(): RouterDeps {
  if (cachedDeps) return cachedDeps;
  const rt = runtime();
  cachedDeps = {
    get config() {
      return rt.config;
    },
    vendors: rt.vendors,
    queueUrls: JSON.parse(requireEnv(ENV.queueUrls)) as Record<string, string>,
    log: rt.log.child({ fn: 'router' }),
    ports: {
      describe: (ref) => rt.objects.describe(ref),
      readSmall: (b, k, max) => rt.objects.readSmall(b, k, max),
      createDelivery: (rec) => rt.table.createDelivery(rec),
      send: (url, messages) => rt.queues.sendAll(url, messages),
      forObject: (pk) => rt.table.forObject(pk),
      addNotice: (key, notice) => rt.table.addNotice(key, notice),
      listKeys: (bucket, prefix, max) => rt.objects.listKeys(bucket, prefix, max),
    },
  };
  return cachedDeps;
}

/** Records of one batch are routed concurrently (each is independent); this many at a time. */
const CONCURRENCY = 8;

export async function routeBatch(event: SQSEvent, _context: Context): Promise<SQSBatchResponse> {
  const rt = runtime();
  await refreshConfig(rt);
  const d = deps();
  const failures: SQSBatchResponse['batchItemFailures'] = [];
  const routeOne = async (record: SQSRecord) => {
    try {
      const result = await routeMessage(record.body, d);
      if (result.kind === 'wait') {
        const queueUrl = queueUrlFromArn(record.eventSourceARN, process.env.AWS_ENDPOINT_URL_SQS);
        await rt.queues.retryLater(queueUrl, record.receiptHandle, result.delayMs);
        d.log.info('event postponed', { reason: result.reason, delayMs: result.delayMs });
        failures.push({ itemIdentifier: record.messageId });
      }
    } catch (err) {
      const malformed = err instanceof MalformedEventError;
      d.log.error(malformed ? 'malformed ingest message: it will reach the DLQ' : 'routing failed', {
        messageId: record.messageId,
        error: errorMessage(err),
      });
      failures.push({ itemIdentifier: record.messageId });
    }
  };
  let next = 0;
  const worker = async () => {
    while (next < event.Records.length) await routeOne(event.Records[next++] as SQSRecord);
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, event.Records.length) }, worker));
  return { batchItemFailures: failures };
}

export const handler = middy<SQSEvent, SQSBatchResponse>().use(sourceMappedErrors()).handler(routeBatch);
