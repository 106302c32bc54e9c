/**
 * The relay's AWS client against a loopback server that checks each request as AWS would: the SigV4 signature
 * is recomputed by the AWS SDK's own signer (@smithy/signature-v4) over the headers the request says it signed,
 * so a key the two sign differently fails here. Then the SDK's standard retries, error names, S3 addressing.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { DocumentClient, GetCommand, UpdateCommand } from './dynamodb-client.ts';
import { decodeMetadataValue, encodeKey, S3Client } from './s3-client.ts';
import { AWS_CALLS, type AwsCallEvent, AwsError, AwsTransport, readText } from './transport.ts';

const CREDENTIALS = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};

interface Seen {
  method: string;
  url: string;
  host: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
  signatureOk: boolean;
}

let server: Server;
let endpoint: string;
const seen: Seen[] = [];
/** What the next requests are answered with (then 200 `{}`). */
let answers: Array<(res: ServerResponse) => void> = [];

async function signatureOk(req: IncomingMessage, body: Buffer, service: string): Promise<boolean> {
  const auth = String(req.headers.authorization ?? '');
  const m =
    /Credential=[^/]+\/\d+\/([^/]+)\/[^/]+\/aws4_request, SignedHeaders=([^,]+), Signature=(\w+)/.exec(auth);
  if (!m) return false;
  const signed = (m[2] as string).split(';');
  const headers: Record<string, string> = {};
  for (const h of signed) headers[h] = String(req.headers[h] ?? '');
  const url = new URL(req.url ?? '/', 'http://x');
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = v;
  const signer = new SignatureV4({
    credentials: CREDENTIALS,
    region: m[1] as string,
    service,
    sha256: Sha256,
    uriEscapePath: service !== 's3',
    applyChecksum: false,
  });
  const amzDate = headers['x-amz-date'] as string;
  const date = new Date(
    `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
  );
  const out = await signer.sign(
    {
      method: req.method ?? 'GET',
      protocol: 'http:',
      hostname: headers.host as string,
      // The path as sent; S3's is not escaped again (uriEscapePath false), the others' are (decoded first).
      path: service === 's3' ? url.pathname : decodeURIComponent(url.pathname),
      query,
      headers,
      body: headers['x-amz-content-sha256'] === 'UNSIGNED-PAYLOAD' ? undefined : body,
    },
    { signingDate: date, unsignableHeaders: new Set(), signableHeaders: new Set(signed) },
  );
  const expected = /Signature=(\w+)/.exec(String(out.headers.authorization))?.[1];
  return expected === m[3];
}

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const service = req.headers['x-amz-target']
        ? String(req.headers['x-amz-target']).startsWith('DynamoDB')
          ? 'dynamodb'
          : 'secretsmanager'
        : 's3';
      void signatureOk(req, body, service).then((ok) => {
        seen.push({
          method: req.method ?? '',
          url: req.url ?? '',
          host: String(req.headers.host),
          headers: req.headers,
          body,
          signatureOk: ok,
        });
        const answer = answers.shift();
        if (answer) answer(res);
        else res.end(req.method === 'HEAD' ? undefined : '{}');
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  seen.length = 0;
  answers = [];
});

const opts = () => ({ endpoint, region: 'eu-west-1', credentials: CREDENTIALS });
const json = (status: number, body: unknown) => (res: ServerResponse) => {
  res.statusCode = status;
  res.setHeader('content-type', 'application/x-amz-json-1.0');
  res.end(JSON.stringify(body));
};
const xml = (status: number, code: string) => (res: ServerResponse) => {
  res.statusCode = status;
  res.setHeader('content-type', 'application/xml');
  res.end(`<?xml version="1.0"?><Error><Code>${code}</Code><Message>it &amp; went wrong</Message></Error>`);
};

describe('AWS client: signatures the AWS SDK signer agrees with', () => {
  it('DynamoDB JSON requests, marshalled as the DocumentClient marshals them', async () => {
    const doc = new DocumentClient(opts());
    answers.push(json(200, { Item: { pk: { S: 'a' }, n: { N: '2' }, tags: { L: [{ S: 'x' }] } } }));
    const got = await doc.send(new GetCommand({ TableName: 't', Key: { pk: 'a', sk: 'ü b' } }));
    assert.deepEqual(got.Item, { pk: 'a', n: 2, tags: ['x'] });
    await doc.send(
      new UpdateCommand({
        TableName: 't',
        Key: { pk: 'a' },
        UpdateExpression: 'SET #s = :s',
        ExpressionAttributeNames: { '#s': 's' },
        ExpressionAttributeValues: { ':s': 'SENT', ':gone': undefined },
      }),
    );
    assert.equal(seen.length, 2);
    for (const s of seen) assert.ok(s.signatureOk, `signature of ${s.headers['x-amz-target']}`);
    assert.equal(seen[0]?.headers['x-amz-target'], 'DynamoDB_20120810.GetItem');
    assert.deepEqual(JSON.parse(String(seen[0]?.body)), {
      TableName: 't',
      Key: { pk: { S: 'a' }, sk: { S: 'ü b' } },
    });
    assert.deepEqual(JSON.parse(String(seen[1]?.body)).ExpressionAttributeValues, { ':s': { S: 'SENT' } });
    doc.destroy();
  });

  it('S3 keys with spaces, +, %, unicode, ?, #, = and & as paths S3 reads back as the same key', async () => {
    const s3 = new S3Client({ ...opts(), forcePathStyle: true });
    const keys = [
      'a b/c+d.jpg',
      'line-1/100%/x=1&y=2?.png',
      'Prüfung/ñ/日本 #1.jpg',
      "it's (1)*!.jpg",
      'a//b',
    ];
    for (const key of keys) {
      answers.push((res) => {
        res.setHeader('content-length', '3');
        res.end('abc');
      });
      const got = await s3.getObject('bucket-1', key, { versionId: 'v+1/=', range: 'bytes=0-2' });
      assert.equal(await readText(got.body), 'abc');
    }
    assert.equal(seen.length, keys.length);
    seen.forEach((s, i) => {
      assert.ok(s.signatureOk, `signature for ${keys[i]}`);
      const url = new URL(s.url, 'http://x');
      assert.equal(decodeURIComponent(url.pathname), `/bucket-1/${keys[i]}`);
      assert.equal(url.searchParams.get('versionId'), 'v+1/=');
      assert.equal(s.headers.range, 'bytes=0-2');
    });
    s3.destroy();
  });

  it('S3 PUT of a stream: unsigned payload, its length, user metadata; a Buffer: its hash signed', async () => {
    const s3 = new S3Client({ ...opts(), forcePathStyle: true });
    await s3.putObject({
      bucket: 'results',
      key: 'r/1.jpg',
      body: Readable.from([Buffer.from('hello '), Buffer.from('world')]),
      contentType: 'image/jpeg',
      contentLength: 11,
      metadata: { Task: 'bgr' },
    });
    await s3.putObject({
      bucket: 'results',
      key: 'r/2.jpg',
      body: Buffer.from('x'),
      contentType: 'image/jpeg',
      contentLength: 1,
    });
    assert.ok(seen.every((s) => s.signatureOk));
    assert.equal(seen[0]?.headers['x-amz-content-sha256'], 'UNSIGNED-PAYLOAD');
    assert.equal(String(seen[0]?.body), 'hello world');
    assert.equal(seen[0]?.headers['x-amz-meta-task'], 'bgr');
    assert.match(String(seen[1]?.headers['x-amz-content-sha256']), /^[0-9a-f]{64}$/);
    s3.destroy();
  });

  it('virtual-hosted buckets unless path style is asked or the name has a dot', async () => {
    const s3 = new S3Client(opts());
    const port = new URL(endpoint).port;
    assert.deepEqual(s3.addressOf('plain', 'a b.jpg', ''), {
      host: `plain.127.0.0.1:${port}`,
      path: '/a%20b.jpg',
    });
    assert.deepEqual(s3.addressOf('with.dot', 'k', 'versionId=1'), { path: '/with.dot/k?versionId=1' });
    assert.deepEqual(
      new S3Client({ ...opts(), forcePathStyle: true }).addressOf('plain', undefined, 'list-type=2'),
      {
        path: '/plain?list-type=2',
      },
    );
    await s3.headObject('with.dot', 'k');
    assert.equal(new URL(seen[0]?.url ?? '', 'http://x').pathname, '/with.dot/k');
    assert.ok(seen[0]?.signatureOk);
    s3.destroy();
  });
});

describe('AWS client: errors and retries as the SDK standard mode', () => {
  it('names JSON errors by their __type and keeps their fields (a failed condition and its Item)', async () => {
    const doc = new DocumentClient(opts());
    answers.push(
      json(400, {
        __type: 'com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException',
        message: 'The conditional request failed',
        Item: { pk: { S: 'a' }, status: { S: 'UPLOADED' } },
      }),
    );
    const err = await doc
      .send(
        new UpdateCommand({
          TableName: 't',
          Key: { pk: 'a' },
          UpdateExpression: 'SET x = :x',
          ExpressionAttributeValues: { ':x': 1 },
        }),
      )
      .catch((e: unknown) => e);
    assert.ok(err instanceof AwsError);
    assert.equal(err.name, 'ConditionalCheckFailedException');
    assert.equal(err.status, 400);
    assert.deepEqual((err as AwsError & { Item?: unknown }).Item, { pk: 'a', status: 'UPLOADED' });
    assert.equal(seen.length, 1, 'a refused condition is not retried');
    doc.destroy();
  });

  it('retries 5xx and throttling up to 3 attempts; not a validation error', async () => {
    const t = new AwsTransport('dynamodb', opts());
    answers.push(
      json(500, { __type: 'InternalServerError' }),
      json(400, { __type: 'ns#ThrottlingException' }),
    );
    assert.deepEqual(await t.json('DynamoDB_20120810.GetItem', '1.0', {}), {});
    assert.equal(seen.length, 3);
    seen.length = 0;
    answers.push(json(503, {}), json(503, {}), json(503, {}), json(200, {}));
    const err = await t.json('DynamoDB_20120810.GetItem', '1.0', {}).catch((e: unknown) => e);
    assert.equal((err as AwsError).status, 503);
    assert.equal(seen.length, 3, 'three attempts, then the error');
    seen.length = 0;
    answers.length = 0;
    answers.push(json(400, { __type: 'com.amazon.coral.validate#ValidationException', message: 'bad' }));
    const bad = await t.json('DynamoDB_20120810.GetItem', '1.0', {}).catch((e: unknown) => e);
    assert.equal((bad as AwsError).name, 'ValidationException');
    assert.equal((bad as AwsError).message, 'bad');
    assert.equal(seen.length, 1);
    t.destroy();
  });

  it('retries a dropped connection; sends a streamed body once', async () => {
    const t = new AwsTransport('dynamodb', opts());
    answers.push((res) => res.socket?.destroy());
    assert.deepEqual(await t.json('DynamoDB_20120810.GetItem', '1.0', {}), {});
    assert.equal(seen.length, 2);
    t.destroy();
    const s3 = new S3Client({ ...opts(), forcePathStyle: true });
    seen.length = 0;
    answers.push(xml(500, 'InternalError'));
    const err = await s3
      .putObject({
        bucket: 'b',
        key: 'k',
        body: Readable.from([Buffer.from('x')]),
        contentType: 'a/b',
        contentLength: 1,
      })
      .catch((e: unknown) => e);
    assert.equal((err as AwsError).name, 'InternalError');
    assert.equal(seen.length, 1, 'a stream cannot be replayed');
    s3.destroy();
  });

  it('ends a PUT whose streamed body fails with that failure, not with the idle timeout', async () => {
    const s3 = new S3Client({ ...opts(), forcePathStyle: true, idleTimeoutMs: 30_000 });
    const body = new Readable({ read() {} });
    body.push(Buffer.from('part of it'));
    setImmediate(() =>
      body.destroy(Object.assign(new Error('vendor answer cut off'), { code: 'ECONNRESET' })),
    );
    const err = await s3
      .putObject({ bucket: 'b', key: 'k', body, contentType: 'a/b', contentLength: 100 })
      .catch((e: unknown) => e);
    assert.ok(err instanceof AwsError);
    assert.equal(err.name, 'ECONNRESET');
    assert.match(err.message, /vendor answer cut off/);
    s3.destroy();
  });

  it('names S3 errors by their XML Code, a HEAD by its status', async () => {
    const s3 = new S3Client({ ...opts(), forcePathStyle: true });
    answers.push(xml(404, 'NoSuchKey'));
    const get = await s3.getObject('b', 'k').catch((e: unknown) => e);
    assert.equal((get as AwsError).name, 'NoSuchKey');
    assert.equal((get as AwsError).message, 'it & went wrong');
    answers.push((res) => {
      res.statusCode = 404;
      res.end();
    });
    const head = await s3.headObject('b', 'k').catch((e: unknown) => e);
    assert.equal((head as AwsError).name, 'NotFound');
    assert.equal((head as AwsError).status, 404);
    s3.destroy();
  });

  it("gives user metadata back as uploaded: S3's RFC 2047 encoded-words for non-ASCII values are decoded", async () => {
    const s3 = new S3Client({ ...opts(), forcePathStyle: true });
    answers.push((res) => {
      // What S3 answers for metadata uploaded as station=Prüfstand 3, shift=Früh/Spät, line=L1.
      res.setHeader('x-amz-meta-station', `=?UTF-8?B?${Buffer.from('Prüfstand 3').toString('base64')}?=`);
      res.setHeader('x-amz-meta-shift', '=?UTF-8?Q?Fr=C3=BCh/Sp=C3=A4t?=');
      res.setHeader('x-amz-meta-line', 'L1');
      res.end();
    });
    const head = await s3.headObject('b', 'k');
    assert.deepEqual(head.metadata, { station: 'Prüfstand 3', shift: 'Früh/Spät', line: 'L1' });
    s3.destroy();
  });

  it('reads ListObjectsV2 keys with XML entities and the continuation token only when truncated', async () => {
    const s3 = new S3Client({ ...opts(), forcePathStyle: true });
    answers.push((res) => {
      res.end(
        '<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>a &amp; b/&lt;1&gt;.jpg</Key><LastModified>2026-01-05T08:15:00.000Z</LastModified><Size>7</Size></Contents><NextContinuationToken>tok/1=</NextContinuationToken></ListBucketResult>',
      );
    });
    const page = await s3.listObjectsV2('b', 'a &', 10);
    assert.deepEqual(
      page.contents.map((c) => c.key),
      ['a & b/<1>.jpg'],
    );
    assert.equal(page.nextContinuationToken, 'tok/1=');
    assert.equal(new URL(seen[0]?.url ?? '', 'http://x').searchParams.get('prefix'), 'a &');
    assert.ok(seen[0]?.signatureOk);
    s3.destroy();
  });
});

describe('AWS client: configuration and observation', () => {
  it('takes its endpoint, region and credentials from the environment, as the SDK does', async () => {
    const env = {
      AWS_ENDPOINT_URL_DYNAMODB: endpoint,
      AWS_REGION: 'ap-south-1',
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      AWS_SESSION_TOKEN: 'session-token',
    };
    const t = new AwsTransport('dynamodb', { env });
    await t.json('DynamoDB_20120810.GetItem', '1.0', {});
    assert.match(String(seen[0]?.headers.authorization), /\/ap-south-1\/dynamodb\/aws4_request/);
    assert.equal(seen[0]?.headers['x-amz-security-token'], 'session-token');
    assert.ok(seen[0]?.signatureOk);
    t.destroy();
    assert.equal(
      new AwsTransport('sqs', { env: { AWS_REGION: 'eu-central-1' } }).endpoint.href,
      'https://sqs.eu-central-1.amazonaws.com/',
    );
    const none = new AwsTransport('dynamodb', { env: { AWS_ENDPOINT_URL_DYNAMODB: endpoint } });
    await assert.rejects(none.json('DynamoDB_20120810.GetItem', '1.0', {}), /no AWS credentials/);
    none.destroy();
  });

  it('publishes each call with its request body before it is sent, and its answer', async () => {
    const events: Array<{ phase: string; operation: string; error?: string }> = [];
    const listener = (m: unknown) => {
      const e = m as AwsCallEvent;
      if (e.phase === 'start' && e.input) e.input.ReturnConsumedCapacity = 'INDEXES';
      events.push({ phase: e.phase, operation: e.operation, ...(e.error ? { error: e.error.name } : {}) });
    };
    AWS_CALLS.subscribe(listener);
    try {
      const doc = new DocumentClient(opts());
      await doc.send(new GetCommand({ TableName: 't', Key: { pk: 'a' } }));
      answers.push(json(400, { __type: 'ns#ResourceNotFoundException' }));
      await doc.send(new GetCommand({ TableName: 't', Key: { pk: 'a' } })).catch(() => undefined);
      doc.destroy();
    } finally {
      AWS_CALLS.unsubscribe(listener);
    }
    assert.equal(
      JSON.parse(String(seen[0]?.body)).ReturnConsumedCapacity,
      'INDEXES',
      'a subscriber may add to the request',
    );
    assert.deepEqual(events, [
      { phase: 'start', operation: 'GetItem' },
      { phase: 'end', operation: 'GetItem' },
      { phase: 'start', operation: 'GetItem' },
      { phase: 'end', operation: 'GetItem', error: 'ResourceNotFoundException' },
    ]);
  });

  it('encodes each key segment as SigV4 canonicalizes it', () => {
    assert.equal(encodeKey("a b/c+d/(x)*!'.jpg"), 'a%20b/c%2Bd/%28x%29%2A%21%27.jpg');
  });
});

describe('decodeMetadataValue (RFC 2047 encoded-words, as S3 returns non-ASCII user metadata)', () => {
  it('decodes B and Q words, joins adjacent words, and leaves anything else as it came', () => {
    const b = (t: string) => `=?UTF-8?B?${Buffer.from(t).toString('base64')}?=`;
    assert.equal(decodeMetadataValue(b('Müller')), 'Müller');
    assert.equal(
      decodeMetadataValue(`${b('Prüf')} ${b('stand')}`),
      'Prüfstand',
      'space between words dropped',
    );
    assert.equal(decodeMetadataValue('=?utf-8?q?a_b=3Dc?='), 'a b=c');
    assert.equal(decodeMetadataValue('=?ISO-8859-1?Q?Sch=F6n?='), 'Schön');
    assert.equal(decodeMetadataValue(`line ${b('ü')}`), 'line ü');
    for (const plain of ['L1', 'a=?b', '=?UTF-8?X?abc?=', '=?no-such-charset?B?YQ==?=', '=?UTF-8?B?/w==?='])
      assert.equal(decodeMetadataValue(plain), plain, plain);
  });
});
