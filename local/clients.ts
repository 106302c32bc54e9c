/**
 * SDK clients configured explicitly for the emulators: for the local stack's own plumbing, tests and the demo.
 * (Handlers build theirs with no configuration and get the emulators through the environment, see aws-env.ts.)
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DocumentClient as RelayDocumentClient } from '#adapters/aws/dynamodb-client.ts';
import { S3Client as RelayS3Client } from '#adapters/aws/s3-client.ts';
import { FAKE_CREDENTIALS, type LocalEndpoints } from './aws-env.ts';

export interface LocalClients {
  s3: S3Client;
  sqs: SQSClient;
  /** Undefined when there is no DynamoDB endpoint. */
  dynamodb: DynamoDBClient | undefined;
  /** DocumentClient over `dynamodb` (marshalls plain JS values; removes undefined values). */
  ddb: DynamoDBDocumentClient | undefined;
  secrets: SecretsManagerClient;
  /**
   * The relay's own clients (lambdas/adapters/aws), for constructing its adapters outside a handler
   * (`new StatusTable(clients.relay.table, …)`): the SDK clients above cannot be given to them.
   */
  relay: { table: RelayDocumentClient | undefined; s3: RelayS3Client };
  destroy(): void;
}

export function createLocalClients(endpoints: LocalEndpoints, region = 'us-east-1'): LocalClients {
  const common = { region, credentials: { ...FAKE_CREDENTIALS } };
  const s3 = new S3Client({ ...common, endpoint: endpoints.s3, forcePathStyle: true });
  const sqs = new SQSClient({ ...common, endpoint: endpoints.sqs });
  const dynamodb = endpoints.dynamodb
    ? new DynamoDBClient({ ...common, endpoint: endpoints.dynamodb })
    : undefined;
  const ddb = dynamodb
    ? DynamoDBDocumentClient.from(dynamodb, { marshallOptions: { removeUndefinedValues: true } })
    : undefined;
  const secrets = new SecretsManagerClient({ ...common, endpoint: endpoints.secretsManager });
  const relay = {
    table: endpoints.dynamodb
      ? new RelayDocumentClient({ ...common, endpoint: endpoints.dynamodb })
      : undefined,
    s3: new RelayS3Client({ ...common, endpoint: endpoints.s3, forcePathStyle: true }),
  };
  return {
    s3,
    sqs,
    dynamodb,
    ddb,
    secrets,
    relay,
    destroy() {
      relay.table?.destroy();
      relay.s3.destroy();
      s3.destroy();
      sqs.destroy();
      dynamodb?.destroy();
      secrets.destroy();
    },
  };
}
