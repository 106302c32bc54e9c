/**
 * The emulators (fauxqs + DynamoDB Local + the Secrets Manager emulator): start, resources from TABLE, secrets
 * through the real SDK client, the handlers' environment, the loopback guard, and a stop that leaves no Java
 * process behind.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  ListTablesCommand,
} from '@aws-sdk/client-dynamodb';
import { ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { GetQueueAttributesCommand, ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { request } from 'undici';
import { TABLE } from '../../lambdas/commons/table.ts';
import {
  applyEnv,
  buildAwsEnv,
  ENDPOINT_ENV,
  guardLoopback,
  isLoopbackHost,
  NonLoopbackConnectionError,
  refusedConnections,
} from '../../local/aws-env.ts';
import { createLocalClients, type LocalClients } from '../../local/clients.ts';
import { type Emulators, startEmulators } from '../../local/emulators.ts';
import { createResources, type LocalResources, statusTableInput } from '../../local/resources.ts';
import { processExists } from './helpers.ts';

let emu: Emulators;
let clients: LocalClients;
let res: LocalResources;
let stopped = false;

before(async () => {
  emu = await startEmulators();
  clients = createLocalClients({
    s3: emu.s3Endpoint,
    sqs: emu.sqsEndpoint,
    dynamodb: emu.dynamodbEndpoint,
    secretsManager: emu.secretsEndpoint,
  });
  res = await createResources({
    clients,
    sqsEndpoint: emu.sqsEndpoint,
    vendors: ['edge-impulse', 'v7-darwin'],
    secrets: { 'factory-relay/edge-impulse': 'ei_test_key_local' },
  });
});
after(async () => {
  clients.destroy();
  if (!stopped) await emu.stop();
});

test('all endpoints are on 127.0.0.1; start times are measured', (t) => {
  for (const url of [emu.s3Endpoint, emu.sqsEndpoint, emu.dynamodbEndpoint!, emu.secretsEndpoint])
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(emu.s3Endpoint, emu.sqsEndpoint, 'one fauxqs serves S3 and SQS');
  assert.ok(emu.dynamodbPid && processExists(emu.dynamodbPid));
  assert.ok(emu.timings.totalMs >= (emu.timings.dynamodbMs ?? 0));
  t.diagnostic(`start times: ${JSON.stringify(emu.timings)}`);
});

describe('resources', () => {
  test('status table from TABLE: keys, both GSIs, TTL', async () => {
    const d = await clients.dynamodb!.send(new DescribeTableCommand({ TableName: res.tableName }));
    const table = d.Table!;
    assert.equal(table.TableStatus, 'ACTIVE');
    assert.deepStrictEqual(table.KeySchema, [
      { AttributeName: TABLE.partitionKey, KeyType: 'HASH' },
      { AttributeName: TABLE.sortKey, KeyType: 'RANGE' },
    ]);
    const gsis = Object.fromEntries(
      (table.GlobalSecondaryIndexes ?? []).map((g) => [g.IndexName, g.KeySchema]),
    );
    for (const ix of Object.values(TABLE.indexes)) {
      assert.deepStrictEqual(gsis[ix.name], [
        { AttributeName: ix.partitionKey, KeyType: 'HASH' },
        { AttributeName: ix.sortKey, KeyType: 'RANGE' },
      ]);
    }
    assert.equal(Object.keys(gsis).length, Object.keys(TABLE.indexes).length);
    assert.equal(table.BillingModeSummary?.BillingMode, 'PAY_PER_REQUEST');
    const ttl = await clients.dynamodb!.send(new DescribeTimeToLiveCommand({ TableName: res.tableName }));
    assert.equal(ttl.TimeToLiveDescription?.AttributeName, TABLE.ttlAttribute);
    assert.equal(ttl.TimeToLiveDescription?.TimeToLiveStatus, 'ENABLED');
    assert.deepStrictEqual(statusTableInput('x').AttributeDefinitions?.length, 8);
  });

  test('the poller index answers a query', async () => {
    const ix = TABLE.indexes.byDue;
    await clients.ddb!.send(
      new PutCommand({
        TableName: res.tableName,
        Item: {
          pk: 'object#b/k#v1',
          sk: 'destination#d1',
          [ix.partitionKey]: 'd1#ACCEPTED',
          [ix.sortKey]: '2024-01-01T00:00:00.000Z',
        },
      }),
    );
    const q = await clients.ddb!.send(
      new QueryCommand({
        TableName: res.tableName,
        IndexName: ix.name,
        KeyConditionExpression: '#p = :p',
        ExpressionAttributeNames: { '#p': ix.partitionKey },
        ExpressionAttributeValues: { ':p': 'd1#ACCEPTED' },
      }),
    );
    assert.deepStrictEqual(
      q.Items?.map((i) => i.pk),
      ['object#b/k#v1'],
    );
  });

  test('queues with DLQ redrive, on the endpoint host', async () => {
    for (const pair of [res.queues.ingest, ...Object.values(res.queues.vendors)]) {
      assert.ok(pair.url.startsWith(`${emu.sqsEndpoint}/000000000000/`), pair.url);
      const a = await clients.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: pair.url, AttributeNames: ['All'] }),
      );
      assert.deepStrictEqual(JSON.parse(a.Attributes!.RedrivePolicy!), {
        deadLetterTargetArn: pair.dlq.arn,
        maxReceiveCount: 5,
      });
      assert.equal(a.Attributes!.VisibilityTimeout, '30');
    }
    assert.deepStrictEqual(Object.keys(res.queues.vendors), ['edge-impulse', 'v7-darwin']);
    assert.equal(res.queues.vendors['v7-darwin']!.name, 'factory-relay-v7-darwin');
  });
});

describe('Secrets Manager emulator through the SDK client', () => {
  test('GetSecretValue of a created secret', async () => {
    const out = await clients.secrets.send(
      new GetSecretValueCommand({ SecretId: 'factory-relay/edge-impulse' }),
    );
    assert.equal(out.SecretString, 'ei_test_key_local');
    assert.equal(out.Name, 'factory-relay/edge-impulse');
    assert.equal(out.ARN, res.secretArns['factory-relay/edge-impulse']);
    assert.match(
      out.ARN!,
      /^arn:aws:secretsmanager:us-east-1:000000000000:secret:factory-relay\/edge-impulse-[A-Za-z0-9]{6}$/,
    );
    assert.deepStrictEqual(out.VersionStages, ['AWSCURRENT']);
    assert.ok(out.CreatedDate instanceof Date);
    const byArn = await clients.secrets.send(new GetSecretValueCommand({ SecretId: out.ARN }));
    assert.equal(byArn.SecretString, 'ei_test_key_local');
  });

  test('unknown secret → ResourceNotFoundException (HTTP 400)', async () => {
    await assert.rejects(
      clients.secrets.send(new GetSecretValueCommand({ SecretId: 'no/such/secret' })),
      (err: Error & { $metadata: { httpStatusCode?: number } }) => {
        assert.equal(err.name, 'ResourceNotFoundException');
        assert.equal(err.message, "Secrets Manager can't find the specified secret.");
        assert.equal(err.$metadata.httpStatusCode, 400);
        return true;
      },
    );
  });

  test('CreateSecret twice → ResourceExistsException; PutSecretValue rotates AWSCURRENT/AWSPREVIOUS', async () => {
    const created = await clients.secrets.send(new CreateSecretCommand({ Name: 'rot', SecretString: 'one' }));
    await assert.rejects(
      clients.secrets.send(new CreateSecretCommand({ Name: 'rot', SecretString: 'again' })),
      (err: Error) => err.name === 'ResourceExistsException',
    );
    const put = await clients.secrets.send(
      new PutSecretValueCommand({ SecretId: 'rot', SecretString: 'two' }),
    );
    assert.deepStrictEqual(put.VersionStages, ['AWSCURRENT']);
    assert.equal(
      (await clients.secrets.send(new GetSecretValueCommand({ SecretId: 'rot' }))).SecretString,
      'two',
    );
    const prev = await clients.secrets.send(
      new GetSecretValueCommand({ SecretId: 'rot', VersionStage: 'AWSPREVIOUS' }),
    );
    assert.equal(prev.SecretString, 'one');
    assert.equal(prev.VersionId, created.VersionId);
    const d = await clients.secrets.send(new DescribeSecretCommand({ SecretId: 'rot' }));
    assert.deepStrictEqual(d.VersionIdsToStages, {
      [created.VersionId!]: ['AWSPREVIOUS'],
      [put.VersionId!]: ['AWSCURRENT'],
    });
    await assert.rejects(
      clients.secrets.send(new GetSecretValueCommand({ SecretId: 'rot', VersionId: 'nope' })),
      (err: Error) => err.name === 'ResourceNotFoundException',
    );
  });

  test('an unsupported operation → 400 UnknownOperationException', async () => {
    const r = await request(emu.secretsEndpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': 'secretsmanager.DeleteSecret',
      },
      body: '{}',
    });
    assert.equal(r.statusCode, 400);
    assert.equal(r.headers['x-amzn-errortype'], 'UnknownOperationException');
    assert.equal(((await r.body.json()) as { __type: string }).__type, 'UnknownOperationException');
  });
});

describe('the handlers environment', () => {
  test('unconfigured SDK clients reach the emulators through AWS_ENDPOINT_URL_*', async () => {
    const restore = applyEnv(
      buildAwsEnv({
        s3: emu.s3Endpoint,
        sqs: emu.sqsEndpoint,
        dynamodb: emu.dynamodbEndpoint,
        secretsManager: emu.secretsEndpoint,
      }),
    );
    try {
      assert.equal(process.env[ENDPOINT_ENV.secretsManager], emu.secretsEndpoint);
      assert.equal(process.env.AWS_PROFILE, undefined);
      const s3 = new S3Client({ forcePathStyle: process.env.RELAY_S3_FORCE_PATH_STYLE === 'true' });
      const sqs = new SQSClient({});
      const ddb = new DynamoDBClient({});
      const sm = new SecretsManagerClient({});
      try {
        const buckets = await s3.send(new ListBucketsCommand({}));
        assert.ok(buckets.Buckets?.some((b) => b.Name === res.buckets.ingest));
        const queues = await sqs.send(new ListQueuesCommand({}));
        assert.ok((queues.QueueUrls ?? []).length >= 6);
        const tables = await ddb.send(new ListTablesCommand({}));
        assert.deepStrictEqual(tables.TableNames, [res.tableName]);
        const secret = await sm.send(new GetSecretValueCommand({ SecretId: 'factory-relay/edge-impulse' }));
        assert.equal(secret.SecretString, 'ei_test_key_local');
        const creds = await sqs.config.credentials();
        assert.equal(creds.accessKeyId, 'local');
        assert.equal(await sqs.config.region(), 'us-east-1');
      } finally {
        for (const c of [s3, sqs, ddb, sm]) c.destroy();
      }
    } finally {
      restore();
    }
    assert.equal(process.env[ENDPOINT_ENV.secretsManager], undefined, 'restored');
  });

  test('isLoopbackHost', () => {
    for (const h of [
      '127.0.0.1',
      '127.0.0.2',
      '127.1.2.3',
      'localhost',
      'sqs.us-east-1.localhost',
      '::1',
      '[::1]',
    ])
      assert.equal(isLoopbackHost(h), true, h);
    for (const h of ['sqs.us-east-1.amazonaws.com', '10.0.0.1', '0.0.0.0', 'example.com', '128.0.0.1'])
      assert.equal(isLoopbackHost(h), false, h);
  });

  test('guardLoopback refuses an AWS queue URL host (the SDK would follow it) and plain HTTP alike', async () => {
    const original = net.Socket.prototype.connect;
    const unguard = guardLoopback();
    const restore = applyEnv(
      buildAwsEnv({ s3: emu.s3Endpoint, sqs: emu.sqsEndpoint, secretsManager: emu.secretsEndpoint }),
    );
    const sqs = new SQSClient({ maxAttempts: 1 });
    try {
      assert.notEqual(net.Socket.prototype.connect, original);
      await assert.rejects(
        sqs.send(
          new GetQueueAttributesCommand({
            QueueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/some-queue',
            AttributeNames: ['All'],
          }),
        ),
        (err: Error) => {
          assert.match(err.message, /refused a connection to sqs\.us-east-1\.amazonaws\.com/);
          return true;
        },
      );
      assert.equal(refusedConnections.at(-1), 'sqs.us-east-1.amazonaws.com');
      await assert.rejects(
        request('http://example.com/'),
        (err: Error) => err instanceof NonLoopbackConnectionError,
      );
      // Loopback still works.
      const ok = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: res.queues.ingest.url, AttributeNames: ['QueueArn'] }),
      );
      assert.equal(ok.Attributes?.QueueArn, res.queues.ingest.arn);
    } finally {
      sqs.destroy();
      restore();
      unguard();
    }
    assert.equal(net.Socket.prototype.connect, original, 'uninstalled');
  });

  test('guardLoopback lets through every 127.x address (the Edge Impulse uploader endpoints on 127.0.0.2)', async () => {
    const server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.2', () => resolve()));
    const { port } = server.address() as net.AddressInfo;
    const unguard = guardLoopback();
    try {
      const res = await request(`http://127.0.0.2:${port}/`);
      assert.equal(await res.body.text(), 'ok');
    } finally {
      unguard();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

test('guardLoopback lets through exactly the allowed host names, while its installer holds it', async () => {
  const server = net.createServer((socket) => socket.end('hello'));
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as net.AddressInfo).port;
  // Every name resolves to the local server here, so nothing leaves the machine (not even a DNS query).
  const lookup = ((_host: string, options: { all?: boolean }, cb: (...a: unknown[]) => void) =>
    options.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4)) as never;
  const connect = (host: string) =>
    new Promise<string>((ok, fail) => {
      const socket = net.connect({ host, port, lookup });
      socket.once('data', (d) => {
        ok(String(d));
        socket.destroy();
      });
      socket.once('error', fail);
    });
  const original = net.Socket.prototype.connect;
  const first = guardLoopback({ allowHosts: ['Vendor.Example.test', 'localhost'] });
  const second = guardLoopback();
  try {
    assert.equal(await connect('vendor.example.test'), 'hello');
    assert.equal(await connect('vendor.example.test.'), 'hello', 'a trailing dot is the same host');
    for (const host of ['other.example.test', 'sub.vendor.example.test', 'example.test']) {
      await assert.rejects(connect(host), (err: Error) => {
        assert.ok(err instanceof NonLoopbackConnectionError, host);
        assert.match(
          err.message,
          /only loopback is allowed: 127\.0\.0\.0\/8, ::1, localhost; and vendor\.example\.test\)/,
        );
        return true;
      });
    }
    first();
    await assert.rejects(
      connect('vendor.example.test'),
      NonLoopbackConnectionError,
      'gone with its installer',
    );
    assert.equal(await connect('127.0.0.1'), 'hello');
  } finally {
    first();
    second();
    server.close();
  }
  assert.equal(net.Socket.prototype.connect, original, 'uninstalled');
});

test('stop() ends every emulator: the Java process is gone, ports closed', async () => {
  const pid = emu.dynamodbPid!;
  assert.equal(processExists(pid), true);
  await emu.stop();
  stopped = true;
  assert.equal(processExists(pid), false, `java pid ${pid} still exists`);
  for (const url of [emu.s3Endpoint, emu.dynamodbEndpoint!, emu.secretsEndpoint])
    await assert.rejects(request(url, { method: 'POST', body: '{}' }), /ECONNREFUSED/, url);
  await emu.stop(); // idempotent
});
