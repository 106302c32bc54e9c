/**
 * Creates the relay's resources on the emulators through the real AWS SDK clients, as CDK would on AWS:
 * ingest bucket (versioning enabled), results bucket, ingest queue + DLQ, one queue + DLQ per vendor (redrive
 * after maxReceiveCount), the status table from TABLE (pk/sk, both GSIs, TTL) and secrets.
 */
import {
  type AttributeDefinition,
  CreateTableCommand,
  type CreateTableCommandInput,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import {
  CreateBucketCommand,
  GetBucketVersioningCommand,
  PutBucketVersioningCommand,
} from '@aws-sdk/client-s3';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { CreateQueueCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { TABLE } from '../lambdas/commons/table.ts';
import type { LocalClients } from './clients.ts';

export interface QueueRef {
  name: string;
  url: string;
  arn: string;
}

export interface QueuePair extends QueueRef {
  dlq: QueueRef;
}

export interface QueueSettings {
  /** Seconds (default 30; AWS wants ≥ the function timeout). */
  visibilityTimeoutSeconds?: number;
  /** Receives before a message moves to the DLQ (default 5). */
  maxReceiveCount?: number;
}

export interface ResourceNames {
  ingestBucket: string;
  resultsBucket: string;
  ingestQueue: string;
  /** Queue name for a vendor id. */
  vendorQueue: (vendor: string) => string;
  table: string;
}

export function defaultResourceNames(prefix = 'factory-relay'): ResourceNames {
  return {
    ingestBucket: `${prefix}-ingest`,
    resultsBucket: `${prefix}-results`,
    ingestQueue: `${prefix}-ingest`,
    vendorQueue: (vendor) => `${prefix}-${vendor}`,
    table: `${prefix}-status`,
  };
}

export interface ResourceOptions {
  clients: LocalClients;
  /** The SQS endpoint: queue URLs are given on its host (see queueUrlOnEndpoint). */
  sqsEndpoint: string;
  names?: Partial<ResourceNames>;
  vendors?: string[];
  ingestQueue?: QueueSettings;
  /** Settings of every vendor queue, or per vendor. */
  vendorQueues?: QueueSettings | ((vendor: string) => QueueSettings);
  /** Enable versioning on the ingest bucket (default true). */
  ingestVersioning?: boolean;
  /** Create the status table (default: when a DynamoDB client exists). */
  table?: boolean;
  /** Secrets to create: name → value (SecretString). */
  secrets?: Record<string, string>;
}

export interface LocalResources {
  buckets: { ingest: string; results: string };
  /** Whether the ingest bucket reports versioning Enabled (GetBucketVersioning after PutBucketVersioning). */
  ingestVersioned: boolean;
  queues: { ingest: QueuePair; vendors: Record<string, QueuePair> };
  tableName: string | undefined;
  /** Secret name → ARN. */
  secretArns: Record<string, string>;
}

/**
 * fauxqs hands out queue URLs on `sqs.<region>.localhost:<port>`; it looks queues up by the path alone. The
 * relay gets them on the endpoint's own host (127.0.0.1), like AWS's `https://sqs.<region>.amazonaws.com/…`
 * matches the SQS endpoint, so the SDK never switches hosts (and no name needs resolving).
 */
export function queueUrlOnEndpoint(queueUrl: string, endpoint: string): string {
  const path = new URL(queueUrl).pathname;
  return `${endpoint.replace(/\/$/, '')}${path}`;
}

/** The table definition, from TABLE. Every key attribute is a string (ISO timestamps, ids). */
export function statusTableInput(tableName: string): CreateTableCommandInput {
  const { indexes } = TABLE;
  const keyNames = new Set<string>([TABLE.partitionKey, TABLE.sortKey]);
  for (const ix of Object.values(indexes)) {
    keyNames.add(ix.partitionKey);
    keyNames.add(ix.sortKey);
  }
  const AttributeDefinitions: AttributeDefinition[] = [...keyNames].map((AttributeName) => ({
    AttributeName,
    AttributeType: 'S',
  }));
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions,
    KeySchema: [
      { AttributeName: TABLE.partitionKey, KeyType: 'HASH' },
      { AttributeName: TABLE.sortKey, KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: Object.values(indexes).map((ix) => ({
      IndexName: ix.name,
      KeySchema: [
        { AttributeName: ix.partitionKey, KeyType: 'HASH' },
        { AttributeName: ix.sortKey, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    })),
  };
}

async function createQueuePair(
  clients: LocalClients,
  endpoint: string,
  name: string,
  settings: QueueSettings = {},
): Promise<QueuePair> {
  const create = async (queueName: string, attributes: Record<string, string>): Promise<QueueRef> => {
    const out = await clients.sqs.send(
      new CreateQueueCommand({ QueueName: queueName, Attributes: attributes }),
    );
    const url = queueUrlOnEndpoint(out.QueueUrl!, endpoint);
    const attrs = await clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
    );
    return { name: queueName, url, arn: attrs.Attributes!.QueueArn! };
  };
  const dlq = await create(`${name}-dlq`, { MessageRetentionPeriod: '1209600' });
  const main = await create(name, {
    VisibilityTimeout: String(settings.visibilityTimeoutSeconds ?? 30),
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: dlq.arn,
      maxReceiveCount: settings.maxReceiveCount ?? 5,
    }),
  });
  return { ...main, dlq };
}

export async function createResources(opts: ResourceOptions): Promise<LocalResources> {
  const names = { ...defaultResourceNames(), ...opts.names };
  const { clients } = opts;

  await clients.s3.send(new CreateBucketCommand({ Bucket: names.ingestBucket }));
  await clients.s3.send(new CreateBucketCommand({ Bucket: names.resultsBucket }));
  let ingestVersioned = false;
  if (opts.ingestVersioning !== false) {
    await clients.s3.send(
      new PutBucketVersioningCommand({
        Bucket: names.ingestBucket,
        VersioningConfiguration: { Status: 'Enabled' },
      }),
    );
    const v = await clients.s3.send(new GetBucketVersioningCommand({ Bucket: names.ingestBucket }));
    ingestVersioned = v.Status === 'Enabled';
  }

  const ingest = await createQueuePair(clients, opts.sqsEndpoint, names.ingestQueue, opts.ingestQueue);
  const vendors: Record<string, QueuePair> = {};
  for (const vendor of opts.vendors ?? []) {
    vendors[vendor] = await createQueuePair(
      clients,
      opts.sqsEndpoint,
      names.vendorQueue(vendor),
      typeof opts.vendorQueues === 'function' ? opts.vendorQueues(vendor) : opts.vendorQueues,
    );
  }

  let tableName: string | undefined;
  if (opts.table ?? clients.dynamodb !== undefined) {
    if (!clients.dynamodb)
      throw new Error('createResources: a table was asked for but there is no DynamoDB client');
    await clients.dynamodb.send(new CreateTableCommand(statusTableInput(names.table)));
    await clients.dynamodb.send(
      new UpdateTimeToLiveCommand({
        TableName: names.table,
        TimeToLiveSpecification: { AttributeName: TABLE.ttlAttribute, Enabled: true },
      }),
    );
    tableName = names.table;
  }

  const secretArns: Record<string, string> = {};
  for (const [name, value] of Object.entries(opts.secrets ?? {})) {
    const out = await clients.secrets.send(new CreateSecretCommand({ Name: name, SecretString: value }));
    secretArns[name] = out.ARN!;
  }

  return {
    buckets: { ingest: names.ingestBucket, results: names.resultsBucket },
    ingestVersioned,
    queues: { ingest, vendors },
    tableName,
    secretArns,
  };
}
