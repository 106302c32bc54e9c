/**
 * The composition root every handler shares: the config, the status table, S3 reads, SQS and the logger,
 * built once per cold start from the environment (lambdas/commons/env.ts). Tests and the local stack reach
 * the same code by setting the same environment (AWS_ENDPOINT_URL_* for the emulators).
 *
 * What only vendor-facing handlers need (the HTTP client, Secrets Manager, the results bucket) is in
 * vendor-runtime.ts, so that the router's bundle does not carry it.
 */
import { randomBytes } from 'node:crypto';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { createDocumentClient, StatusTable } from '#adapters/dynamodb.ts';
import { createS3Client, S3Objects } from '#adapters/s3.ts';
import { Queues } from '#adapters/sqs.ts';
import { ENV, requireEnv } from '#commons/env.ts';
import { createLogger, type Logger } from '#commons/logger.ts';
import { readBakedConfig } from '#domain/config/baked.ts';
import type { RelayConfig } from '#domain/config/types.ts';
import { VENDORS } from '#vendors/registry.ts';
import type { VendorPlugin } from '#vendors/types.ts';

export interface Runtime {
  config: RelayConfig;
  vendors: Readonly<Record<string, VendorPlugin>>;
  table: StatusTable;
  objects: S3Objects;
  queues: Queues;
  sqs: SQSClient;
  log: Logger;
  /** Identifies this Lambda instance in delivery leases. */
  instanceId: string;
}

let cached: Runtime | undefined;

export function runtime(): Runtime {
  if (cached) return cached;
  const log = createLogger({ service: 'factory-relay' });
  // Validated at synth (or at the local stack's start): parsed here, never validated again.
  const config = readBakedConfig(requireEnv(ENV.configJson), Object.keys(VENDORS), ENV.configJson);
  const sqs = new SQSClient({});
  cached = {
    config,
    vendors: VENDORS,
    table: new StatusTable(createDocumentClient(), requireEnv(ENV.table)),
    objects: new S3Objects(createS3Client()),
    queues: new Queues(sqs),
    sqs,
    log,
    instanceId: randomBytes(9).toString('base64url'),
  };
  return cached;
}

/** Sends a message to a queue (the dead-letter move), with the reason as a message attribute. */
export async function sendRaw(sqs: SQSClient, queueUrl: string, body: string, reason: string): Promise<void> {
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: body,
      // An attribute has SQS's character rules too: the reason may quote a key, so keep it printable ASCII.
      MessageAttributes: {
        reason: { DataType: 'String', StringValue: reason.replace(/[^\x20-\x7e]/g, '?').slice(0, 256) },
      },
    }),
  );
}
