/**
 * The whole local stack with stub handlers that use unconfigured SDK clients (as the real handlers do): an
 * upload flows S3 → notifier → ingest queue → router → vendor queues → forwarders → table; the poller runs on
 * its schedule; the callback route answers; stop() leaves nothing behind and restores the environment.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, PutCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2, S3Event, SQSEvent } from 'aws-lambda';
import { request } from 'undici';
import { decodeS3EventKey } from '../../lambdas/commons/s3-key.ts';
import { TABLE } from '../../lambdas/commons/table.ts';
import type { RelayConfig } from '../../lambdas/domain/config/types.ts';
import type { InvocationEnd } from '../../local/runner.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { processExists, waitFor } from './helpers.ts';

const config: RelayConfig = {
  version: 1,
  data_receiver: [
    {
      data_receiver_name: 'cameras',
      protocol: 's3',
      streams: [{ asset: 'line1', stream_type: 'image', key_pattern: 'images/{line}/{file}' }],
    },
  ],
  data_transmit: [
    {
      transmit_name: 'darwin',
      transmit_type: 'v7-darwin',
      filter_stream: ['*'],
      base_url: 'http://127.0.0.1:1',
      api_key_secret: 'v7-darwin-key',
      fields: {},
    },
    {
      transmit_name: 'ei',
      transmit_type: 'edge-impulse',
      filter_stream: ['*'],
      base_url: 'http://127.0.0.1:1',
      api_key_secret: 'edge-impulse-key',
      fields: {},
    },
  ],
};

const envBefore = { ...process.env };
let stack: LocalStack;
const testEvents: unknown[] = [];
const pollerRuns: Array<{ found: number }> = [];
const results: InvocationEnd[] = [];

before(async () => {
  stack = await startLocalStack({
    config,
    // Made-up vendor ids for the stub handlers below: no plug-in validates them.
    validateConfig: false,
    secrets: { 'v7-darwin-key': 'sim-api-key-1', 'edge-impulse-key': 'ei_test_key_local' },
    secretPrefix: 'factory-relay/',
    pollEveryMs: 200,
    logLevel: 'warn',
    handlers: {
      // Unconfigured clients, exactly as handler code builds them: the environment must carry everything.
      router: async (event: SQSEvent) => {
        const sqs = new SQSClient({});
        try {
          const urls = JSON.parse(process.env.RELAY_QUEUE_URLS!) as Record<string, string>;
          for (const r of event.Records) {
            const body = JSON.parse(r.body) as Partial<S3Event> & { Event?: string };
            if (body.Event === 's3:TestEvent') {
              testEvents.push(body);
              continue;
            }
            for (const rec of body.Records ?? []) {
              const job = {
                bucket: rec.s3.bucket.name,
                key: decodeS3EventKey(rec.s3.object.key),
                versionId: rec.s3.object.versionId,
                eTag: rec.s3.object.eTag,
              };
              for (const [vendor, url] of Object.entries(urls))
                await sqs.send(
                  new SendMessageBatchCommand({
                    QueueUrl: url,
                    Entries: [{ Id: '0', MessageBody: JSON.stringify({ vendor, ...job }) }],
                  }),
                );
            }
          }
          return { batchItemFailures: [] };
        } finally {
          sqs.destroy();
        }
      },
      forwarder: (vendorId: string) => async (event: SQSEvent) => {
        const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}));
        const sm = new SecretsManagerClient({});
        try {
          for (const r of event.Records) {
            const job = JSON.parse(r.body) as {
              vendor: string;
              bucket: string;
              key: string;
              versionId: string;
            };
            const secret = await sm.send(
              new GetSecretValueCommand({ SecretId: `${process.env.RELAY_SECRET_PREFIX}${vendorId}-key` }),
            );
            await ddb.send(
              new PutCommand({
                TableName: process.env.RELAY_TABLE,
                Item: {
                  pk: `object#${job.bucket}/${job.key}#${job.versionId}`,
                  sk: `destination#${vendorId}`,
                  [TABLE.indexes.byDue.partitionKey]: `${vendorId}#ACCEPTED`,
                  [TABLE.indexes.byDue.sortKey]: new Date().toISOString(),
                  queueVendor: job.vendor,
                  secretLength: secret.SecretString?.length ?? 0,
                },
              }),
            );
          }
        } finally {
          ddb.destroy();
          sm.destroy();
        }
      },
      poller: async () => {
        const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}));
        try {
          const ix = TABLE.indexes.byDue;
          const q = await ddb.send(
            new QueryCommand({
              TableName: process.env.RELAY_TABLE,
              IndexName: ix.name,
              KeyConditionExpression: '#p = :p',
              ExpressionAttributeNames: { '#p': ix.partitionKey },
              ExpressionAttributeValues: { ':p': 'v7-darwin#ACCEPTED' },
            }),
          );
          pollerRuns.push({ found: q.Items?.length ?? 0 });
        } finally {
          ddb.destroy();
        }
      },
      callback: async (event: APIGatewayProxyEventV2) => ({
        statusCode: 202,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...event.pathParameters, base: process.env.RELAY_CALLBACK_BASE_URL }),
      }),
    },
  });
  stack.runner.on('result', (e) => results.push(e));
});
after(async () => {
  await stack?.stop();
});

test('sets the handlers environment', (t) => {
  assert.equal(process.env.RELAY_TABLE, stack.tableName);
  assert.deepStrictEqual(JSON.parse(process.env.RELAY_QUEUE_URLS!), stack.queueUrls);
  assert.deepStrictEqual(Object.keys(stack.queueUrls).sort(), ['edge-impulse', 'v7-darwin']);
  assert.deepStrictEqual(JSON.parse(process.env.RELAY_CONFIG_JSON!), config);
  assert.equal(process.env.RELAY_CONFIG_FILE, undefined);
  assert.equal(process.env.RELAY_CALLBACK_BASE_URL, stack.apiUrl);
  assert.equal(process.env.RELAY_SECRET_PREFIX, 'factory-relay/');
  assert.equal(process.env.RELAY_LOG_LEVEL, 'warn');
  assert.equal(process.env.RELAY_S3_FORCE_PATH_STYLE, 'true');
  assert.equal(process.env.AWS_ENDPOINT_URL_DYNAMODB, stack.endpoints.dynamodb);
  assert.equal(process.env.AWS_ACCESS_KEY_ID, 'local');
  assert.equal(stack.ingestVersioned, true);
  t.diagnostic(`stack start: ${JSON.stringify(stack.timings)}`);
});

test('an upload flows to every vendor forwarder and into the table', async () => {
  const key = 'images/line 1/unit+42 ü.jpg';
  const put = await stack.clients.s3.send(
    new PutObjectCommand({ Bucket: stack.buckets.ingest, Key: key, Body: Buffer.from('jpeg bytes') }),
  );
  const items = await waitFor('two deliveries in the table', async () => {
    const scan = await stack.clients.ddb.send(
      new ScanCommand({
        TableName: stack.tableName,
        FilterExpression: 'begins_with(pk, :p)',
        ExpressionAttributeValues: { ':p': 'object#' },
      }),
    );
    return (scan.Items?.length ?? 0) >= 2 ? scan.Items : undefined;
  });
  assert.deepStrictEqual(items!.map((i) => [i.pk, i.sk, i.queueVendor, i.secretLength]).sort(), [
    [
      `object#${stack.buckets.ingest}/${key}#${put.VersionId}`,
      'destination#edge-impulse',
      'edge-impulse',
      17,
    ],
    [`object#${stack.buckets.ingest}/${key}#${put.VersionId}`, 'destination#v7-darwin', 'v7-darwin', 13],
  ]);
  assert.deepStrictEqual(testEvents.length, 1, 'the router saw the s3:TestEvent once');
  // A forwarder's write lands before its invocation ends: wait for the runner's record of each invocation.
  await waitFor('every function invoked', async () => {
    const fns = new Set(results.map((r) => r.functionName));
    return (
      ['router', 'forwarder-v7-darwin', 'forwarder-edge-impulse'].every((fn) => fns.has(fn)) || undefined
    );
  });
  assert.ok(
    results.every((r) => r.outcome === 'success'),
    JSON.stringify(results.filter((r) => r.outcome !== 'success')),
  );
});

test('the poller runs on its schedule and sees the table through its GSI', async () => {
  await waitFor('a poller run that found the v7 delivery', () => pollerRuns.some((r) => r.found >= 1));
  const end = await stack.poller.trigger();
  assert.equal(end.outcome, 'success');
  assert.equal(end.functionName, 'poller');
});

test('the callback route answers through the HTTP API', async () => {
  const res = await request(stack.callbackUrl('v7-darwin', 'tok-1'), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"status":"complete"}',
  });
  assert.equal(res.statusCode, 202);
  assert.deepStrictEqual(await res.body.json(), { vendor: 'v7-darwin', token: 'tok-1', base: stack.apiUrl });
  const miss = await request(`${stack.apiUrl}/callbacks/v7-darwin`, { method: 'POST' });
  assert.equal(miss.statusCode, 404);
  await miss.body.dump();
});

test('stop() releases everything and restores the environment', async () => {
  const pid = stack.emulators.dynamodbPid!;
  const apiUrl = stack.apiUrl;
  await stack.stop();
  assert.equal(processExists(pid), false, `java pid ${pid} still exists`);
  assert.equal(stack.runner.inFlight, 0);
  await assert.rejects(request(`${apiUrl}/callbacks/a/b`, { method: 'POST' }), /ECONNREFUSED/);
  for (const name of [
    'RELAY_TABLE',
    'RELAY_QUEUE_URLS',
    'RELAY_CONFIG_JSON',
    'RELAY_CALLBACK_BASE_URL',
    'AWS_ENDPOINT_URL_S3',
    'AWS_ACCESS_KEY_ID',
    'AWS_REGION',
  ])
    assert.equal(process.env[name], envBefore[name], name);
  await stack.stop(); // idempotent
});
