/**
 * `relay ui` (cli/commands/ui.ts + ui/proxy.ts) against a stand-in for the deployed HTTP API on loopback, which
 * checks each request's SigV4 signature the way API Gateway does (recomputes it from the request it received
 * and the same secret), and answers like the ops API.
 */
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Sha256 } from '@aws-crypto/sha256-js';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { SignatureV4 } from '@smithy/signature-v4';
import { EXIT } from '../../cli/command.ts';
import { regionOfApiUrl, runUi } from '../../cli/commands/ui.ts';
import { resolveStack } from '../../cli/ops-client.ts';

const CREDS = { accessKeyId: 'AKIDEXAMPLEFAKEKEY01', secretAccessKey: 'fake-secret-for-tests-only' };

interface Seen {
  method: string;
  path: string;
  valid: boolean;
  body: string;
}

let upstream: ReturnType<typeof createServer>;
let upstreamUrl = '';
const seen: Seen[] = [];

before(async () => {
  const verifier = new SignatureV4({
    service: 'execute-api',
    region: 'eu-west-1',
    credentials: CREDS,
    sha256: Sha256,
  });
  upstream = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', upstreamUrl);
    const amzDate = String(req.headers['x-amz-date']);
    const signedHeaders =
      /SignedHeaders=([^,]+)/.exec(String(req.headers.authorization))?.[1]?.split(';') ?? [];
    const headers: Record<string, string> = {};
    for (const h of signedHeaders) headers[h] = String(req.headers[h]);
    const query: Record<string, string> = Object.fromEntries(url.searchParams);
    const expected = await verifier.sign(
      {
        method: req.method ?? 'GET',
        protocol: 'http:',
        hostname: url.hostname,
        port: Number(url.port),
        path: url.pathname,
        query,
        headers,
        ...(body.length ? { body } : {}),
      },
      {
        signingDate: new Date(
          amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'),
        ),
      },
    );
    const valid = expected.headers.authorization === req.headers.authorization;
    seen.push({
      method: req.method ?? 'GET',
      path: `${url.pathname}${url.search}`,
      valid,
      body: body.toString(),
    });
    if (!valid)
      return res.writeHead(403, { 'content-type': 'application/json' }).end('{"message":"Forbidden"}');
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ success: true, response: { echo: url.pathname }, error: null }));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => upstream.close(() => r())));

/** Runs `relay ui` against the stand-in; `body` gets the page URL and returns when done. */
async function withUi(body: (pageUrl: string) => Promise<void>): Promise<string[]> {
  const out: string[] = [];
  const code = await runUi(
    ['--url', upstreamUrl, '--region', 'eu-west-1', '--port', '0'],
    { out: (t) => out.push(t), err: (t) => out.push(t), cwd: process.cwd(), env: {} },
    { credentials: CREDS, until: (proxy) => body(proxy.url) },
  );
  assert.equal(code, EXIT.ok);
  return out;
}

describe('relay ui', () => {
  test('serves the page and forwards /v1 calls signed with SigV4 (GET with a query, POST with a body)', async () => {
    const out = await withUi(async (page) => {
      const html = await fetch(page);
      assert.equal(html.status, 200);
      assert.match(await html.text(), /<script type="module" src="app.js">/);
      const origin = new URL(page).origin;
      const status = await fetch(`${origin}/v1/deliveries?serial=SN%201&limit=5`);
      assert.equal(status.status, 200);
      assert.deepEqual(((await status.json()) as { response: unknown }).response, { echo: '/v1/deliveries' });
      const post = await fetch(`${origin}/v1/destinations/a/stop`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin },
        body: JSON.stringify({ x: 1 }),
      });
      assert.equal(post.status, 200);
    });
    assert.match(out[0]!, /^ops page {2}http:\/\/127\.0\.0\.1:\d+\/ui\/$/);
    const calls = seen.slice(-2);
    assert.deepEqual(
      calls.map((c) => [c.method, c.path, c.valid]),
      [
        ['GET', '/v1/deliveries?serial=SN%201&limit=5', true],
        ['POST', '/v1/destinations/a/stop', true],
      ],
    );
    assert.equal(calls[1]!.body, '{"x":1}');
  });

  test('refuses another Host (DNS rebinding) and a cross-site Origin, and sends them nowhere', async () => {
    const before = seen.length;
    await withUi(async (page) => {
      const u = new URL(page);
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(
          { host: u.hostname, port: u.port, path: '/v1/status', headers: { host: 'evil.example:80' } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end();
      });
      assert.equal(status, 421);
      const cross = await fetch(`${u.origin}/v1/destinations/a/stop`, {
        method: 'POST',
        headers: { origin: 'https://evil.example' },
      });
      assert.equal(cross.status, 403);
    });
    assert.equal(seen.length, before);
  });

  test('--stack NAME: the API URL, region and results bucket from the stack outputs (as the ops commands read them)', async () => {
    const asked: string[] = [];
    // A stand-in for CloudFormation's query API on loopback: DescribeStacks answers the relay stack's outputs.
    const cfn = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const form = new URLSearchParams(Buffer.concat(chunks).toString());
      asked.push(`${form.get('Action')} ${form.get('StackName')}`);
      const outputs =
        form.get('StackName') === 'relay-prod'
          ? [
              ['OpsApiUrl', `${upstreamUrl}/`],
              ['ResultsBucketName', 'relay-prod-results'],
            ]
          : [['IngestBucketName', 'x']];
      const members = outputs
        .map(([k, v]) => `<member><OutputKey>${k}</OutputKey><OutputValue>${v}</OutputValue></member>`)
        .join('');
      res
        .writeHead(200, { 'content-type': 'text/xml' })
        .end(
          `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member><StackName>${form.get('StackName')}</StackName><StackStatus>UPDATE_COMPLETE</StackStatus><CreationTime>2026-01-05T08:00:00Z</CreationTime><Outputs>${members}</Outputs></member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></DescribeStacksResponse>`,
        );
    });
    await new Promise<void>((r) => cfn.listen(0, '127.0.0.1', r));
    const cloudFormation = new CloudFormationClient({
      endpoint: `http://127.0.0.1:${(cfn.address() as AddressInfo).port}`,
      region: 'eu-west-1',
      credentials: CREDS,
    });
    try {
      const out: string[] = [];
      const before = seen.length;
      const code = await runUi(
        ['--stack', 'relay-prod', '--port', '0'],
        {
          out: (t) => out.push(t),
          err: (t) => out.push(t),
          cwd: process.cwd(),
          env: { AWS_REGION: 'eu-west-1' },
        },
        {
          credentials: CREDS,
          cloudFormation,
          until: async (proxy) => {
            const status = await fetch(`${new URL(proxy.url).origin}/v1/status`);
            assert.equal(status.status, 200);
          },
        },
      );
      assert.equal(code, EXIT.ok);
      assert.deepEqual(asked, ['DescribeStacks relay-prod']);
      assert.deepEqual(
        seen.slice(before).map((c) => [c.method, c.path, c.valid]),
        [['GET', '/v1/status', true]],
        'forwarded to the OpsApiUrl output, signed for the stack region',
      );
      assert.match(out[1] ?? '', new RegExp(`API calls go to ${upstreamUrl} signed for eu-west-1`));

      // The same resolution the ops commands use (cli/ops-client.ts), results bucket included.
      assert.deepEqual(await resolveStack('relay-prod', 'eu-west-1', cloudFormation), {
        apiUrl: `${upstreamUrl}/`,
        region: 'eu-west-1',
        resultsBucket: 'relay-prod-results',
      });

      // A stack without the output: exit 1, said plainly, nothing served.
      const errs: string[] = [];
      const failed = await runUi(
        ['--stack', 'other', '--port', '0'],
        {
          out: (t) => errs.push(t),
          err: (t) => errs.push(t),
          cwd: process.cwd(),
          env: { AWS_REGION: 'eu-west-1' },
        },
        { credentials: CREDS, cloudFormation, until: async () => assert.fail('must not serve') },
      );
      assert.equal(failed, EXIT.failed);
      assert.deepEqual(errs, ['relay ui: stack other has no OpsApiUrl output']);
    } finally {
      cloudFormation.destroy();
      await new Promise<void>((r) => cfn.close(() => r()));
    }
  });

  test('usage errors: neither or both of --stack and --url, a bad port; the region comes from an execute-api URL', async () => {
    const io = { out: () => {}, err: () => {}, cwd: process.cwd(), env: {} };
    await assert.rejects(runUi([], io), /--stack NAME or --url API_URL is required/);
    await assert.rejects(runUi(['--stack', 'a', '--url', upstreamUrl], io), /not both/);
    await assert.rejects(runUi(['--url', upstreamUrl, '--region', 'x', '--port', 'abc'], io), /not a port/);
    await assert.rejects(runUi(['--url', upstreamUrl], io), /--region is required/);
    assert.equal(regionOfApiUrl('https://abc123.execute-api.eu-central-1.amazonaws.com/'), 'eu-central-1');
  });
});
