/**
 * The callback handler's first promise, in isolation: a token the relay did not make is refused with 404
 * before anything is read. The SDK is mocked (the only narrow unit test of the handler; the end-to-end tests in
 * test/e2e/instavid360-callbacks.e2e.test.ts run it on the emulators).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { ENV } from '#commons/env.ts';
import { callbackToken } from '#domain/callback-token.ts';
import { encodeDeliveryId } from '#domain/delivery.ts';
import { ivConfig } from '#vendors/instavid360/testing.ts';

const KEY = randomBytes(48);
const ddb = mockClient(DynamoDBDocumentClient);
const sm = mockClient(SecretsManagerClient);
const saved = { ...process.env };

before(() => {
  Object.assign(process.env, {
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
  ddb.on(GetCommand).resolves({});
  sm.on(GetSecretValueCommand).resolves({ SecretString: KEY.toString('base64') });
});
after(() => {
  ddb.restore();
  sm.restore();
  process.env = saved;
});

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
    assert.equal(ddb.commandCalls(GetCommand).length, 0, 'no read');
    assert.equal(ddb.calls().length, 0, 'no DynamoDB call at all');
    // A token the relay made is read (so the mock counts what the handler does).
    const real = await onCallback(event('instavid360', callbackToken(KEY, 'instavid360', id)), context);
    assert.equal(real.statusCode, 404, 'no such record');
    assert.equal(ddb.commandCalls(GetCommand).length, 1);
  });
});
