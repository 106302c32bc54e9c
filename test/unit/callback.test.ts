/**
 * The callback handler's first promise, in isolation: a token the relay did not make is refused with 404
 * before anything is read. DynamoDB and Secrets Manager are one loopback server here that answers their JSON
 * protocol and counts the operations asked of it (the only narrow unit test of the handler; the end-to-end
 * tests in test/e2e/instavid360-callbacks.e2e.test.ts run it on the emulators).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { ENV } from '#commons/env.ts';
import { callbackToken } from '#domain/callback-token.ts';
import { encodeDeliveryId } from '#domain/delivery.ts';
import { ivConfig } from '#vendors/instavid360/testing.ts';

const KEY = randomBytes(48);
const saved = { ...process.env };
/** X-Amz-Target of every request the fake AWS got, in order. */
const asked: string[] = [];
let server: Server;

before(async () => {
  server = createServer((req, res) => {
    const target = String(req.headers['x-amz-target'] ?? '');
    asked.push(target);
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      if (target === 'secretsmanager.GetSecretValue')
        res.end(JSON.stringify({ SecretString: KEY.toString('base64') }));
      else res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_DYNAMODB: endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoint,
    [ENV.table]: 'relay-status',
    [ENV.callbackKeySecret]: 'relay/callback-key',
    [ENV.callbackBaseUrl]: 'https://api.example.invalid',
    [ENV.resultsBucket]: 'relay-results',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'fake',
    AWS_SECRET_ACCESS_KEY: 'fake',
    [ENV.configJson]: JSON.stringify(ivConfig({ task: 'lpa' })),
  });
  delete process.env[ENV.configFile];
});
after(async () => {
  process.env = saved;
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const dynamoCalls = () => asked.filter((t) => t.startsWith('DynamoDB_'));

const context = { getRemainingTimeInMillis: () => 10_000 } as Context;
const event = (vendor: string, token: string): APIGatewayProxyEventV2 =>
  ({
    pathParameters: { vendor, token },
    body: '{"data":{"status":"complete"}}',
    isBase64Encoded: false,
  }) as unknown as APIGatewayProxyEventV2;

describe('callback handler: forged tokens', () => {
  it('answers 404 before any read of the table', async () => {
    const { onCallback } = await import('#handlers/callback.ts');
    const id = encodeDeliveryId({ pk: 'object#b/a/SN1.jpg#v=1', sk: 'destination#iv' });
    const forged = [
      `${id}.AAAAAAAAAAAAAAAAAAAAAA`,
      id,
      callbackToken(randomBytes(48), 'instavid360', id),
      callbackToken(KEY, 'instrumental', id),
      '.x',
      '',
    ];
    for (const token of forged) {
      const res = await onCallback(event('instavid360', token), context);
      assert.equal(res.statusCode, 404, token);
    }
    assert.deepEqual(dynamoCalls(), [], 'no DynamoDB call at all');
    // A token the relay made is read (so the fake counts what the handler does).
    const real = await onCallback(event('instavid360', callbackToken(KEY, 'instavid360', id)), context);
    assert.equal(real.statusCode, 404, 'no such record');
    // The config refresh every handler does (the newest saved version), then the record.
    assert.deepEqual(dynamoCalls(), ['DynamoDB_20120810.Query', 'DynamoDB_20120810.GetItem']);
  });
});
