/**
 * Aggregator Lambda: fed by the status table's DynamoDB Stream (NEW_AND_OLD_IMAGES), it folds each batch of
 * record changes into the per-destination and per-stream counters /v1/status and /v1/streams read
 * (lambdas/domain/ops/aggregate.ts): a few UpdateItems per batch, never a write per status change.
 *
 * A failed write throws: Lambda retries the batch (halving it with bisectBatchOnError) and, once the retries are
 * spent, sends its description to the on-failure queue. Items that already took the batch refuse it again (their
 * `batch` marker), so a whole-batch retry counts nothing twice; see docs/architecture.md for the limits.
 * It reads no config: its bundle is the SDK, middy and the fold.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import middy from '@middy/core';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { createDocumentClient, OpsCounters } from '#adapters/dynamodb.ts';
import { ENV, requireEnv } from '#commons/env.ts';
import { createLogger } from '#commons/logger.ts';
import { aggregate, type ChangeRecord } from '#domain/ops/aggregate.ts';

const image = (i: Record<string, unknown> | undefined): Record<string, unknown> | undefined =>
  i ? (unmarshall(i as Record<string, AttributeValue>) as Record<string, unknown>) : undefined;

/** Lambda's DynamoDB stream records as the fold reads them (records without keys are left out). */
export function toChanges(records: readonly DynamoDBRecord[]): ChangeRecord[] {
  const out: ChangeRecord[] = [];
  for (const r of records) {
    const keys = image(r.dynamodb?.Keys as Record<string, unknown> | undefined);
    if (typeof keys?.pk !== 'string' || typeof keys.sk !== 'string' || !r.eventName) continue;
    const oldImage = image(r.dynamodb?.OldImage as Record<string, unknown> | undefined);
    const newImage = image(r.dynamodb?.NewImage as Record<string, unknown> | undefined);
    out.push({
      seq: r.dynamodb?.SequenceNumber ?? '',
      kind: r.eventName,
      keys: { pk: keys.pk, sk: keys.sk },
      ...(oldImage ? { old: oldImage } : {}),
      ...(newImage ? { new: newImage } : {}),
      at: (r.dynamodb?.ApproximateCreationDateTime ?? 0) * 1000,
    });
  }
  return out;
}

let counters: OpsCounters | undefined;
const log = createLogger({ service: 'factory-relay' }).child({ fn: 'aggregator' });

export async function aggregateBatch(event: DynamoDBStreamEvent): Promise<void> {
  const deltas = aggregate(toChanges(event.Records ?? []));
  if (deltas.destinations.length === 0 && deltas.streams.length === 0) return;
  counters ??= new OpsCounters(createDocumentClient(), requireEnv(ENV.table));
  const { written, skipped } = await counters.apply(deltas);
  if (skipped > 0)
    log.warn('a replayed batch: counters that had taken it were left as they were', {
      batch: deltas.batchId,
      written,
      skipped,
    });
  log.debug('counters updated', { batch: deltas.batchId, records: event.Records.length, written });
}

export const handler = middy<DynamoDBStreamEvent, void>().handler(aggregateBatch);
