import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultProvider } from './lambda-credentials.ts';

describe('lambda-credentials (what a bundle uses for @aws-sdk/credential-provider-node)', () => {
  it('gives the credentials the Lambda runtime puts in the environment, and refuses when there are none', async () => {
    const saved = { ...process.env };
    try {
      process.env.AWS_ACCESS_KEY_ID = 'AKIDFAKEFAKEFAKE';
      process.env.AWS_SECRET_ACCESS_KEY = 'not-a-real-secret';
      process.env.AWS_SESSION_TOKEN = 'fake-session-token';
      const creds = await defaultProvider({})();
      assert.equal(creds.accessKeyId, 'AKIDFAKEFAKEFAKE');
      assert.equal(creds.secretAccessKey, 'not-a-real-secret');
      assert.equal(creds.sessionToken, 'fake-session-token');
      delete process.env.AWS_ACCESS_KEY_ID;
      await assert.rejects(defaultProvider({})(), /Unable to find environment variable credentials/);
    } finally {
      for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
  });
});
