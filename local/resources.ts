/**
 * Creates the relay's resources on the emulators through the real AWS SDK clients, as CDK would on AWS:
 * ingest bucket (versioning enabled), results bucket, ingest queue + DLQ, one queue + DLQ per vendor (redrive
 * after maxReceiveCount), the status table from TABLE (pk/sk, every GSI, TTL) and secrets.
 *
 * Idempotent, like a deployment over an existing stack (a restart on a data dir finds everything there): an
 * existing bucket, queue, table or secret is kept with its content, and what the options changed is updated where
 * AWS allows it — queue attributes (SetQueueAttributes), versioning (Enabled, or Suspended: a versioned bucket
 * cannot become unversioned), GSIs added, re-created when their keys changed, dropped when no longer defined
 * (one UpdateTable each, as AWS requires), TTL, and secret values (`secrets`: the given value becomes current;
 * `secretsKept`: created only when missing, e.g. a generated signing key that must not change).
 */

import { setTimeout as sleep } from 'node:timers/promises';
import {
  type AttributeDefinition,
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  type GlobalSecondaryIndexDescription,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import {
  CreateBucketCommand,
  GetBucketVersioningCommand,
  HeadBucketCommand,
  PutBucketVersioningCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type QueueAttributeName,
  SetQueueAttributesCommand,
} from '@aws-sdk/client-sqs';
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
  /** Secrets to create: name → value (SecretString). An existing secret gets this value as its current one. */
  secrets?: Record<string, string>;
  /** Secrets created only when missing: an existing one keeps its value (a generated key, kept across restarts). */
  secretsKept?: Record<string, string>;
}

export interface LocalResources {
  buckets: { ingest: string; results: string };
  /** Whether the ingest bucket reports versioning Enabled (GetBucketVersioning after PutBucketVersioning). */
  ingestVersioned: boolean;
  queues: { ingest: QueuePair; vendors: Record<string, QueuePair> };
  tableName: string | undefined;
  /** Secret name → ARN. */
  secretArns: Record<string, string>;
  /** Resources that existed already (kept with their content), e.g. `queue factory-relay-ingest`. */
  existing: string[];
  /** Settings changed on existing resources, e.g. `queue factory-relay-ingest: VisibilityTimeout`. */
  updated: string[];
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
      Projection: { ProjectionType: ix.projection },
    })),
    StreamSpecification: { StreamEnabled: true, StreamViewType: TABLE.streamView },
  };
}

const errorName = (err: unknown) => (err as { name?: string }).name ?? '';

/** What createResources found and changed, for its answer. */
interface Changes {
  existing: string[];
  updated: string[];
}

/** Equal queue attribute values (a RedrivePolicy compared by meaning: AWS may write it back differently). */
function sameAttribute(name: QueueAttributeName, a: string | undefined, b: string | undefined): boolean {
  if (a === b) return true;
  if (name !== 'RedrivePolicy' || !a || !b) return false;
  try {
    const [x, y] = [JSON.parse(a), JSON.parse(b)] as Array<Record<string, unknown>>;
    return (
      x?.deadLetterTargetArn === y?.deadLetterTargetArn &&
      Number(x?.maxReceiveCount) === Number(y?.maxReceiveCount)
    );
  } catch {
    return false;
  }
}

/** CreateQueue, or (queue there with other attributes) SetQueueAttributes with the wanted ones. */
async function ensureQueue(
  clients: LocalClients,
  endpoint: string,
  queueName: string,
  attributes: Partial<Record<QueueAttributeName, string>>,
  changes: Changes,
): Promise<QueueRef> {
  const keys = Object.keys(attributes) as QueueAttributeName[];
  let queueUrl: string;
  const before = await clients.sqs
    .send(new GetQueueUrlCommand({ QueueName: queueName }))
    .then((out) => out.QueueUrl)
    .catch((err: unknown) => {
      if (/QueueDoesNotExist|NonExistentQueue/.test(errorName(err))) return undefined;
      throw err;
    });
  if (before) {
    queueUrl = queueUrlOnEndpoint(before, endpoint);
    changes.existing.push(`queue ${queueName}`);
    const now = await clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: keys }),
    );
    const differ = keys.filter((k) => !sameAttribute(k, now.Attributes?.[k], attributes[k]));
    if (differ.length > 0) {
      await clients.sqs.send(new SetQueueAttributesCommand({ QueueUrl: queueUrl, Attributes: attributes }));
      changes.updated.push(`queue ${queueName}: ${differ.join(', ')}`);
    }
  } else {
    const out = await clients.sqs.send(
      new CreateQueueCommand({ QueueName: queueName, Attributes: attributes }),
    );
    queueUrl = queueUrlOnEndpoint(out.QueueUrl!, endpoint);
  }
  const attrs = await clients.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
  );
  return { name: queueName, url: queueUrl, arn: attrs.Attributes!.QueueArn! };
}

async function createQueuePair(
  clients: LocalClients,
  endpoint: string,
  name: string,
  settings: QueueSettings,
  changes: Changes,
): Promise<QueuePair> {
  const dlq = await ensureQueue(
    clients,
    endpoint,
    `${name}-dlq`,
    { MessageRetentionPeriod: '1209600' },
    changes,
  );
  const main = await ensureQueue(
    clients,
    endpoint,
    name,
    {
      VisibilityTimeout: String(settings.visibilityTimeoutSeconds ?? 30),
      RedrivePolicy: JSON.stringify({
        deadLetterTargetArn: dlq.arn,
        maxReceiveCount: settings.maxReceiveCount ?? 5,
      }),
    },
    changes,
  );
  return { ...main, dlq };
}

async function ensureBucket(s3: S3Client, bucket: string, changes: Changes): Promise<void> {
  const there = await s3
    .send(new HeadBucketCommand({ Bucket: bucket }))
    .then(() => true)
    .catch((err: unknown) => {
      if (
        errorName(err) === 'NotFound' ||
        (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404
      )
        return false;
      throw err;
    });
  if (there) changes.existing.push(`bucket ${bucket}`);
  else await s3.send(new CreateBucketCommand({ Bucket: bucket }));
}

async function ensureVersioning(
  s3: S3Client,
  bucket: string,
  wanted: boolean,
  changes: Changes,
): Promise<boolean> {
  const now = (await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }))).Status;
  // A bucket that was versioned can only be suspended, never unversioned again.
  const target = wanted ? 'Enabled' : now === 'Enabled' ? 'Suspended' : undefined;
  if (target && target !== now) {
    await s3.send(
      new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: target } }),
    );
    if (now) changes.updated.push(`bucket ${bucket}: versioning ${now} → ${target}`);
  }
  const v = await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }));
  return v.Status === 'Enabled';
}

const sameKeys = (a: GlobalSecondaryIndexDescription, b: { KeySchema?: unknown }) =>
  JSON.stringify(a.KeySchema) === JSON.stringify(b.KeySchema);

/** Waits until DescribeTable says `done` (index changes are asynchronous on AWS; DynamoDB Local is quick). */
async function waitForTable(
  ddb: DynamoDBClient,
  tableName: string,
  what: string,
  done: (indexes: GlobalSecondaryIndexDescription[]) => boolean,
): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const t = (await ddb.send(new DescribeTableCommand({ TableName: tableName }))).Table;
    if (done(t?.GlobalSecondaryIndexes ?? [])) return;
    if (Date.now() > deadline) throw new Error(`table ${tableName}: ${what} did not finish within 120 s`);
    await sleep(100);
  }
}

/** An existing status table brought to TABLE's definition: GSIs as AWS allows (one change per UpdateTable). */
async function reconcileTable(ddb: DynamoDBClient, input: CreateTableCommandInput, changes: Changes) {
  const tableName = input.TableName!;
  changes.existing.push(`table ${tableName}`);
  const table = (await ddb.send(new DescribeTableCommand({ TableName: tableName }))).Table;
  if (table?.StreamSpecification?.StreamViewType !== TABLE.streamView) {
    // A data dir from before the aggregator: its table gets the stream (events from now on).
    if (table?.StreamSpecification?.StreamEnabled)
      await ddb.send(
        new UpdateTableCommand({ TableName: tableName, StreamSpecification: { StreamEnabled: false } }),
      );
    await ddb.send(
      new UpdateTableCommand({ TableName: tableName, StreamSpecification: input.StreamSpecification }),
    );
    changes.updated.push(`table ${tableName}: stream ${TABLE.streamView} enabled`);
  }
  const have = table?.GlobalSecondaryIndexes ?? [];
  const want = input.GlobalSecondaryIndexes ?? [];
  for (const ix of have) {
    const wanted = want.find((w) => w.IndexName === ix.IndexName);
    if (wanted && sameKeys(ix, wanted)) continue;
    await ddb.send(
      new UpdateTableCommand({
        TableName: tableName,
        GlobalSecondaryIndexUpdates: [{ Delete: { IndexName: ix.IndexName } }],
      }),
    );
    await waitForTable(ddb, tableName, `dropping index ${ix.IndexName}`, (now) =>
      now.every((n) => n.IndexName !== ix.IndexName),
    );
    changes.updated.push(
      `table ${tableName}: index ${ix.IndexName} dropped${wanted ? ' (keys changed)' : ''}`,
    );
  }
  for (const ix of want) {
    if (have.some((h) => h.IndexName === ix.IndexName && sameKeys(h, ix))) continue;
    await ddb.send(
      new UpdateTableCommand({
        TableName: tableName,
        // The new index's key attributes (UpdateTable: they must be included).
        AttributeDefinitions: input.AttributeDefinitions?.filter((a) =>
          ix.KeySchema?.some((k) => k.AttributeName === a.AttributeName),
        ),
        GlobalSecondaryIndexUpdates: [{ Create: ix }],
      }),
    );
    await waitForTable(ddb, tableName, `creating index ${ix.IndexName}`, (now) =>
      now.some((n) => n.IndexName === ix.IndexName && (n.IndexStatus ?? 'ACTIVE') === 'ACTIVE'),
    );
    changes.updated.push(`table ${tableName}: index ${ix.IndexName} created`);
  }
}

async function ensureTimeToLive(ddb: DynamoDBClient, tableName: string, changes: Changes): Promise<void> {
  const ttl = (await ddb.send(new DescribeTimeToLiveCommand({ TableName: tableName }))).TimeToLiveDescription;
  const on = ttl?.TimeToLiveStatus === 'ENABLED' || ttl?.TimeToLiveStatus === 'ENABLING';
  if (on && ttl?.AttributeName === TABLE.ttlAttribute) return;
  if (on) {
    await ddb.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: ttl!.AttributeName!, Enabled: false },
      }),
    );
  }
  await ddb.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { AttributeName: TABLE.ttlAttribute, Enabled: true },
    }),
  );
  if (on)
    changes.updated.push(`table ${tableName}: TTL attribute ${ttl?.AttributeName} → ${TABLE.ttlAttribute}`);
}

/** CreateSecret; an existing secret keeps its value (`keep`) or gets the given one as current. Answers the ARN. */
async function ensureSecret(
  sm: SecretsManagerClient,
  name: string,
  value: string,
  keep: boolean,
  changes: Changes,
): Promise<string> {
  try {
    return (await sm.send(new CreateSecretCommand({ Name: name, SecretString: value }))).ARN!;
  } catch (err) {
    if (errorName(err) !== 'ResourceExistsException') throw err;
  }
  changes.existing.push(`secret ${name}`);
  if (!keep) {
    const now = await sm
      .send(new GetSecretValueCommand({ SecretId: name }))
      .then((out) => out.SecretString)
      .catch(() => undefined);
    if (now !== value) {
      await sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: value }));
      changes.updated.push(`secret ${name}: new value`);
    }
  }
  return (await sm.send(new DescribeSecretCommand({ SecretId: name }))).ARN!;
}

export async function createResources(opts: ResourceOptions): Promise<LocalResources> {
  const names = { ...defaultResourceNames(), ...opts.names };
  const { clients } = opts;
  const changes: Changes = { existing: [], updated: [] };

  await ensureBucket(clients.s3, names.ingestBucket, changes);
  await ensureBucket(clients.s3, names.resultsBucket, changes);
  const ingestVersioned = await ensureVersioning(
    clients.s3,
    names.ingestBucket,
    opts.ingestVersioning !== false,
    changes,
  );

  const ingest = await createQueuePair(
    clients,
    opts.sqsEndpoint,
    names.ingestQueue,
    opts.ingestQueue ?? {},
    changes,
  );
  const vendors: Record<string, QueuePair> = {};
  for (const vendor of opts.vendors ?? []) {
    vendors[vendor] = await createQueuePair(
      clients,
      opts.sqsEndpoint,
      names.vendorQueue(vendor),
      (typeof opts.vendorQueues === 'function' ? opts.vendorQueues(vendor) : opts.vendorQueues) ?? {},
      changes,
    );
  }

  let tableName: string | undefined;
  if (opts.table ?? clients.dynamodb !== undefined) {
    if (!clients.dynamodb)
      throw new Error('createResources: a table was asked for but there is no DynamoDB client');
    const input = statusTableInput(names.table);
    try {
      await clients.dynamodb.send(new CreateTableCommand(input));
    } catch (err) {
      if (errorName(err) !== 'ResourceInUseException') throw err;
      await reconcileTable(clients.dynamodb, input, changes);
    }
    await ensureTimeToLive(clients.dynamodb, names.table, changes);
    tableName = names.table;
  }

  const secretArns: Record<string, string> = {};
  for (const [name, value] of Object.entries(opts.secrets ?? {}))
    secretArns[name] = await ensureSecret(clients.secrets, name, value, false, changes);
  for (const [name, value] of Object.entries(opts.secretsKept ?? {}))
    secretArns[name] = await ensureSecret(clients.secrets, name, value, true, changes);

  return {
    buckets: { ingest: names.ingestBucket, results: names.resultsBucket },
    ingestVersioned,
    queues: { ingest, vendors },
    tableName,
    secretArns,
    ...changes,
  };
}
