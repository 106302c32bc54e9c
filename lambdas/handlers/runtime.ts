/**
 * The composition root of every handler: AWS clients, the config and the vendor registry, built once per
 * cold start from the environment (lambdas/commons/env.ts). Tests and the local stack reach the same code
 * by setting the same environment (AWS_ENDPOINT_URL_* for the emulators).
 */
import { randomUUID } from 'node:crypto';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { createDocumentClient, StatusTable } from '#adapters/dynamodb.ts';
import { createHttpAgent } from '#adapters/http.ts';
import { createS3Client, S3Objects, S3Results } from '#adapters/s3.ts';
import { Secrets } from '#adapters/secrets.ts';
import { Queues } from '#adapters/sqs.ts';
import { ENV, optionalEnv, requireEnv } from '#commons/env.ts';
import { createLogger, type Logger } from '#commons/logger.ts';
import { loadConfigFromEnv } from '#domain/config/index.ts';
import type { RelayConfig } from '#domain/config/types.ts';
import { decodeDeliveryId } from '#domain/delivery.ts';
import type { VendorRuntime } from '#domain/vendor-context.ts';
import { VENDORS } from '#vendors/registry.ts';
import type { VendorPlugin } from '#vendors/types.ts';

export interface Runtime {
  config: RelayConfig;
  vendors: Readonly<Record<string, VendorPlugin>>;
  table: StatusTable;
  objects: S3Objects;
  queues: Queues;
  sqs: SQSClient;
  secrets: Secrets;
  vendorRuntime: VendorRuntime;
  log: Logger;
  instanceId: string;
}

let cached: Runtime | undefined;

export function runtime(): Runtime {
  if (cached) return cached;
  const log = createLogger({ service: 'factory-relay' });
  const { config } = loadConfigFromEnv(VENDORS);
  const s3 = createS3Client();
  const sqs = new SQSClient({});
  const table = new StatusTable(createDocumentClient(), requireEnv(ENV.table));
  const objects = new S3Objects(s3);
  const resultsBucket = optionalEnv(ENV.resultsBucket);
  const results = new S3Results(s3, resultsBucket ?? '', config.relay?.results_prefix ?? 'results/');
  const secrets = new Secrets(new SecretsManagerClient({}), 5 * 60_000, optionalEnv(ENV.secretPrefix) ?? '');
  const instanceId = randomUUID();
  const callbackBaseUrl = optionalEnv(ENV.callbackBaseUrl);
  const vendorRuntime: VendorRuntime = {
    http: createHttpAgent(),
    objects,
    results: {
      put: (input) => {
        if (!resultsBucket)
          return Promise.reject(new Error(`${ENV.resultsBucket} is not set: nowhere to write results`));
        return results.put(input);
      },
    },
    apiKey: (name) => secrets.apiKey(name),
    takeToken: (id, limit) => table.takeToken(id, limit),
    saveCheckpoint: async (deliveryId, data) => {
      const key = decodeDeliveryId(deliveryId);
      if (key) await table.saveCheckpoint(key, instanceId, data);
    },
    log,
    ...(callbackBaseUrl ? { callbackBaseUrl } : {}),
  };
  cached = {
    config,
    vendors: VENDORS,
    table,
    objects,
    queues: new Queues(sqs),
    sqs,
    secrets,
    vendorRuntime,
    log,
    instanceId,
  };
  return cached;
}

/** Sends a message to a queue (the dead-letter move). */
export async function sendRaw(sqs: SQSClient, queueUrl: string, body: string, reason: string): Promise<void> {
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: body,
      MessageAttributes: { reason: { DataType: 'String', StringValue: reason.slice(0, 256) } },
    }),
  );
}

/** Forgets the cached runtime (tests that change the environment between cases). */
export function resetRuntime(): void {
  cached = undefined;
}
