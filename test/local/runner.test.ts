/**
 * The local event-source runner against fauxqs through the real SDK: Lambda's SQS batch semantics, schedules,
 * and the HTTP API (payload 2.0) conversion both ways.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { request } from 'undici';
import { createLocalClients, type LocalClients } from '../../local/clients.ts';
import { type Emulators, startEmulators } from '../../local/emulators.ts';
import { queueUrlOnEndpoint } from '../../local/resources.ts';
import { failedRecords, type InvocationEnd, LocalRunner } from '../../local/runner.ts';
import { receiveN, sleep, waitFor } from './helpers.ts';

let emu: Emulators;
let clients: LocalClients;
let queueSeq = 0;

interface TestQueue {
  url: string;
  arn: string;
  dlqUrl: string;
}

async function makeQueue(visibility = 1, maxReceiveCount = 5): Promise<TestQueue> {
  const name = `runner-q${++queueSeq}`;
  const arnOf = async (url: string) =>
    (await clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] })))
      .Attributes!.QueueArn!;
  const dlq = await clients.sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
  const dlqUrl = queueUrlOnEndpoint(dlq.QueueUrl!, emu.sqsEndpoint);
  const q = await clients.sqs.send(
    new CreateQueueCommand({
      QueueName: name,
      Attributes: {
        VisibilityTimeout: String(visibility),
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: await arnOf(dlqUrl), maxReceiveCount }),
      },
    }),
  );
  const url = queueUrlOnEndpoint(q.QueueUrl!, emu.sqsEndpoint);
  return { url, arn: await arnOf(url), dlqUrl };
}

async function sendBodies(q: TestQueue, bodies: string[]): Promise<string[]> {
  const out = await clients.sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: q.url,
      Entries: bodies.map((b, i) => ({ Id: String(i), MessageBody: b })),
    }),
  );
  return out.Successful!.sort((a, b) => Number(a.Id) - Number(b.Id)).map((s) => s.MessageId!);
}

async function queueDepth(url: string): Promise<number> {
  const a = await clients.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(a.Attributes!.ApproximateNumberOfMessages) +
    Number(a.Attributes!.ApproximateNumberOfMessagesNotVisible)
  );
}

before(async () => {
  emu = await startEmulators({ dynamodb: false });
  clients = createLocalClients({
    s3: emu.s3Endpoint,
    sqs: emu.sqsEndpoint,
    secretsManager: emu.secretsEndpoint,
  });
});
after(async () => {
  clients.destroy();
  await emu.stop();
});

describe('failedRecords (Lambda partial batch response rules)', () => {
  const r = (id: string) => ({ messageId: id }) as SQSRecord;
  const batch = [r('a'), r('b')];
  test('no response / null list / empty list → all succeeded', () => {
    assert.deepStrictEqual(failedRecords(undefined, batch), []);
    assert.deepStrictEqual(failedRecords(null, batch), []);
    assert.deepStrictEqual(failedRecords({}, batch), []);
    assert.deepStrictEqual(failedRecords({ batchItemFailures: null }, batch), []);
    assert.deepStrictEqual(failedRecords({ batchItemFailures: [] }, batch), []);
  });
  test('listed ids fail', () => {
    assert.deepStrictEqual(failedRecords({ batchItemFailures: [{ itemIdentifier: 'b' }] }, batch), [r('b')]);
  });
  test('empty, null, unknown identifiers or a non-object response fail the whole batch', () => {
    for (const bad of [
      { batchItemFailures: [{ itemIdentifier: '' }] },
      { batchItemFailures: [{ itemIdentifier: null }] },
      { batchItemFailures: [{ id: 'a' }] },
      { batchItemFailures: [{ itemIdentifier: 'zzz' }] },
      { batchItemFailures: 'a' },
      'ok',
      42,
    ])
      assert.equal(failedRecords(bad, batch), undefined, JSON.stringify(bad));
  });
});

describe('SQS mappings', { concurrency: true }, () => {
  test('builds the SQSEvent and Context Lambda builds; success deletes the batch', async () => {
    const q = await makeQueue(30);
    const runner = new LocalRunner({ sqs: clients.sqs });
    const seen: Array<{ event: SQSEvent; context: Context; remaining: number }> = [];
    const results: InvocationEnd[] = [];
    runner.on('result', (e) => results.push(e));
    const body = JSON.stringify({ hello: 'wörld' });
    const sent = await clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: q.url,
        MessageBody: body,
        MessageAttributes: {
          kind: { DataType: 'String', StringValue: 'test' },
          count: { DataType: 'Number', StringValue: '3' },
          blob: { DataType: 'Binary', BinaryValue: Buffer.from([1, 2, 3]) },
        },
      }),
    );
    runner.addSqsMapping({
      functionName: 'shape-fn',
      queueUrl: q.url,
      queueArn: q.arn,
      functionTimeoutMs: 5000,
      handler: async (event, context) => {
        seen.push({ event, context, remaining: context.getRemainingTimeInMillis() });
      },
    });
    try {
      await waitFor('an invocation result', () => results.length === 1);
      const [{ event, context, remaining }] = seen as [(typeof seen)[0]];
      assert.equal(event.Records.length, 1);
      const rec = event.Records[0]!;
      assert.deepStrictEqual(Object.keys(rec), [
        'messageId',
        'receiptHandle',
        'body',
        'attributes',
        'messageAttributes',
        'md5OfBody',
        'md5OfMessageAttributes',
        'eventSource',
        'eventSourceARN',
        'awsRegion',
      ]);
      assert.equal(rec.messageId, sent.MessageId);
      assert.ok(rec.receiptHandle.length > 0);
      assert.equal(rec.body, body);
      assert.equal(rec.md5OfBody, createHash('md5').update(body).digest('hex'));
      assert.equal(rec.md5OfMessageAttributes, sent.MD5OfMessageAttributes);
      assert.equal(rec.eventSource, 'aws:sqs');
      assert.equal(rec.eventSourceARN, q.arn);
      assert.equal(rec.awsRegion, 'us-east-1');
      assert.equal(rec.attributes.ApproximateReceiveCount, '1');
      assert.match(rec.attributes.SentTimestamp, /^\d{13}$/);
      assert.match(rec.attributes.ApproximateFirstReceiveTimestamp, /^\d{13}$/);
      assert.equal(typeof rec.attributes.SenderId, 'string');
      assert.deepStrictEqual(rec.messageAttributes, {
        kind: { stringValue: 'test', stringListValues: [], binaryListValues: [], dataType: 'String' },
        count: { stringValue: '3', stringListValues: [], binaryListValues: [], dataType: 'Number' },
        blob: { binaryValue: 'AQID', stringListValues: [], binaryListValues: [], dataType: 'Binary' },
      });
      assert.equal(context.functionName, 'shape-fn');
      assert.equal(context.invokedFunctionArn, 'arn:aws:lambda:us-east-1:000000000000:function:shape-fn');
      assert.match(
        context.awsRequestId,
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
      assert.equal(context.functionVersion, '$LATEST');
      assert.equal(context.callbackWaitsForEmptyEventLoop, true);
      assert.ok(remaining > 0 && remaining <= 5000, `remaining ${remaining}`);
      assert.equal(results[0]!.outcome, 'success');
      assert.equal(results[0]!.requestId, context.awsRequestId);
      await waitFor('the message deleted', async () => (await queueDepth(q.url)) === 0);
    } finally {
      await runner.stop();
    }
  });

  test('partial batch failure: failed record comes back with ApproximateReceiveCount 2, others deleted', async () => {
    const q = await makeQueue(1);
    const runner = new LocalRunner({ sqs: clients.sqs });
    const ids = await sendBodies(q, ['A', 'B', 'C']);
    const deliveries: Array<{ body: string; count: string }> = [];
    runner.addSqsMapping({
      queueUrl: q.url,
      queueArn: q.arn,
      reportBatchItemFailures: true,
      handler: async (event: SQSEvent) => {
        for (const r of event.Records)
          deliveries.push({ body: r.body, count: r.attributes.ApproximateReceiveCount });
        const failB = event.Records.filter(
          (r) => r.body === 'B' && r.attributes.ApproximateReceiveCount === '1',
        );
        return { batchItemFailures: failB.map((r) => ({ itemIdentifier: r.messageId })) };
      },
    });
    try {
      await waitFor('B redelivered', () => deliveries.some((d) => d.body === 'B' && d.count === '2'));
      await waitFor('queue empty', async () => (await queueDepth(q.url)) === 0);
      await sleep(1200); // one more visibility timeout: nothing else may come back
      assert.deepStrictEqual(
        deliveries.map((d) => `${d.body}${d.count}`).sort(),
        ['A1', 'B1', 'B2', 'C1'],
        `ids ${ids.join(',')}`,
      );
    } finally {
      await runner.stop();
    }
  });

  test('empty batchItemFailures is success for all, even if the handler failed every record', async () => {
    const q = await makeQueue(1);
    const runner = new LocalRunner({ sqs: clients.sqs });
    await sendBodies(q, ['x', 'y']);
    let seen = 0;
    runner.addSqsMapping({
      queueUrl: q.url,
      queueArn: q.arn,
      reportBatchItemFailures: true,
      handler: async (event: SQSEvent) => {
        seen += event.Records.length;
        return { batchItemFailures: [] };
      },
    });
    try {
      await waitFor('both seen', () => seen === 2);
      await waitFor('queue empty', async () => (await queueDepth(q.url)) === 0);
      await sleep(1200);
      assert.equal(seen, 2, 'deleted as successes, never redelivered');
    } finally {
      await runner.stop();
    }
  });

  test('an unknown itemIdentifier fails the whole batch (redelivered)', async () => {
    const q = await makeQueue(1);
    const runner = new LocalRunner({ sqs: clients.sqs });
    const bad: unknown[] = [];
    runner.on('badBatchResponse', (e) => bad.push(e.response));
    await sendBodies(q, ['only']);
    const counts: string[] = [];
    runner.addSqsMapping({
      queueUrl: q.url,
      queueArn: q.arn,
      reportBatchItemFailures: true,
      handler: async (event: SQSEvent) => {
        counts.push(event.Records[0]!.attributes.ApproximateReceiveCount);
        return counts.length === 1 ? { batchItemFailures: [{ itemIdentifier: 'not-in-batch' }] } : undefined;
      },
    });
    try {
      await waitFor('second delivery', () => counts.length === 2);
      assert.deepStrictEqual(counts, ['1', '2']);
      assert.deepStrictEqual(bad, [{ batchItemFailures: [{ itemIdentifier: 'not-in-batch' }] }]);
    } finally {
      await runner.stop();
    }
  });

  test('a thrown error redelivers the whole batch', async () => {
    const q = await makeQueue(1);
    const runner = new LocalRunner({ sqs: clients.sqs });
    const results: InvocationEnd[] = [];
    runner.on('result', (e) => results.push(e));
    await sendBodies(q, ['m1', 'm2']);
    const deliveries: string[] = [];
    runner.addSqsMapping({
      queueUrl: q.url,
      queueArn: q.arn,
      reportBatchItemFailures: true,
      handler: async (event: SQSEvent) => {
        for (const r of event.Records) deliveries.push(`${r.body}:${r.attributes.ApproximateReceiveCount}`);
        if (event.Records.some((r) => r.attributes.ApproximateReceiveCount === '1')) throw new Error('boom');
      },
    });
    try {
      await waitFor('both redelivered', () => deliveries.includes('m1:2') && deliveries.includes('m2:2'));
      await waitFor('queue empty', async () => (await queueDepth(q.url)) === 0);
      assert.deepStrictEqual(deliveries.sort(), ['m1:1', 'm1:2', 'm2:1', 'm2:2']);
      const failed = results.filter((r) => r.outcome === 'failed');
      assert.ok(failed.length >= 1);
      assert.equal((failed[0]!.error as Error).message, 'boom');
    } finally {
      await runner.stop();
    }
  });

  test('a function timeout counts as a failure (redelivered)', async () => {
    const q = await makeQueue(1);
    const runner = new LocalRunner({ sqs: clients.sqs });
    const results: InvocationEnd[] = [];
    runner.on('result', (e) => results.push(e));
    await sendBodies(q, ['slow']);
    const counts: string[] = [];
    runner.addSqsMapping({
      queueUrl: q.url,
      queueArn: q.arn,
      functionTimeoutMs: 150,
      handler: async (event: SQSEvent, context: Context) => {
        const count = event.Records[0]!.attributes.ApproximateReceiveCount;
        counts.push(count);
        if (count === '1') await sleep(context.getRemainingTimeInMillis() + 300);
      },
    });
    try {
      await waitFor('second delivery', () => counts.length === 2);
      await waitFor('queue empty', async () => (await queueDepth(q.url)) === 0);
      assert.deepStrictEqual(counts, ['1', '2']);
      assert.deepStrictEqual(
        results.map((r) => r.outcome),
        ['timeout', 'success'],
      );
    } finally {
      await runner.stop();
    }
  });

  test('goes to the DLQ after maxReceiveCount', async () => {
    const q = await makeQueue(1, 2);
    const runner = new LocalRunner({ sqs: clients.sqs });
    const [id] = await sendBodies(q, ['poison']);
    let attempts = 0;
    runner.addSqsMapping({
      queueUrl: q.url,
      queueArn: q.arn,
      handler: async () => {
        attempts++;
        throw new Error('always');
      },
    });
    try {
      const [dead] = await receiveN(clients.sqs, q.dlqUrl, 1, 15_000);
      assert.equal(dead!.MessageId, id);
      assert.equal(dead!.Body, 'poison');
      assert.equal(attempts, 2);
    } finally {
      await runner.stop();
    }
  });

  test('maxConcurrency is honoured', async () => {
    const q = await makeQueue(30);
    const runner = new LocalRunner({ sqs: clients.sqs });
    await sendBodies(q, ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']);
    let active = 0;
    let peak = 0;
    let done = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    runner.addSqsMapping({
      queueUrl: q.url,
      queueArn: q.arn,
      batchSize: 1,
      maxConcurrency: 3,
      handler: async () => {
        active++;
        peak = Math.max(peak, active);
        await gate;
        active--;
        done++;
      },
    });
    try {
      await waitFor('three concurrent invocations', () => active === 3);
      release();
      await waitFor('all ten handled', () => done === 10);
      assert.equal(peak, 3);
    } finally {
      await runner.stop();
    }
  });

  test('refuses settings Lambda refuses', () => {
    const runner = new LocalRunner({ sqs: clients.sqs });
    const base = {
      queueUrl: 'http://127.0.0.1:1/000000000000/x',
      queueArn: 'arn:aws:sqs:us-east-1:000000000000:x',
      handler: () => {},
    };
    assert.throws(
      () => runner.addSqsMapping({ ...base, maxConcurrency: 1 }),
      /maxConcurrency must be 2–1000/,
    );
    assert.throws(() => runner.addSqsMapping({ ...base, batchSize: 11 }), /batching window of at least 1 s/);
    assert.throws(() => runner.addSqsMapping({ ...base, batchSize: 0 }), /batchSize must be 1–10000/);
  });

  test('stop() waits for the invocation in flight', async () => {
    const q = await makeQueue(30);
    const runner = new LocalRunner({ sqs: clients.sqs });
    await sendBodies(q, ['work']);
    let started = false;
    let finished = false;
    runner.addSqsMapping({
      queueUrl: q.url,
      queueArn: q.arn,
      handler: async () => {
        started = true;
        await sleep(300);
        finished = true;
      },
    });
    await waitFor('started', () => started);
    await runner.stop();
    assert.equal(finished, true);
    assert.equal(runner.inFlight, 0);
    assert.equal(await queueDepth(q.url), 0, 'its batch was settled (deleted) before stop returned');
  });

  test('after stop() no poll of the mapping takes a message: the next reader gets it at once', async () => {
    // A long visibility timeout: a message taken by a poll left behind would be hidden for 10 minutes.
    const q = await makeQueue(600);
    const runner = new LocalRunner({ sqs: clients.sqs });
    let invoked = 0;
    runner.addSqsMapping({
      queueUrl: q.url,
      queueArn: q.arn,
      maxConcurrency: 4,
      handler: async () => {
        invoked++;
      },
    });
    // Let every worker get into a long poll, then stop while they wait.
    await sleep(300);
    await runner.stop();
    await sendBodies(q, ['after stop']);
    const got = await receiveN(clients.sqs, q.url, 1, 10_000);
    assert.deepEqual(
      got.map((m) => m.Body),
      ['after stop'],
    );
    assert.equal(invoked, 0);
  });
});

describe('schedules', () => {
  test('fires every period with a Scheduler-like event; trigger() invokes now', async () => {
    const runner = new LocalRunner({ sqs: clients.sqs });
    const events: Array<Record<string, unknown>> = [];
    const names: string[] = [];
    const handle = runner.addSchedule({
      name: 'poll',
      everyMs: 100,
      functionName: 'poller-fn',
      handler: async (event: unknown, context: Context) => {
        events.push(event as Record<string, unknown>);
        names.push(context.functionName);
      },
    });
    try {
      await waitFor('two scheduled invocations', () => events.length >= 2);
      const e = events[0]!;
      assert.equal(e['detail-type'], 'Scheduled Event');
      assert.equal(e.source, 'aws.scheduler');
      assert.equal(e.region, 'us-east-1');
      assert.equal(e.account, '000000000000');
      assert.deepStrictEqual(e.resources, ['arn:aws:scheduler:us-east-1:000000000000:schedule/default/poll']);
      assert.deepStrictEqual(e.detail, {});
      assert.match(String(e.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.equal(names[0], 'poller-fn');
      handle.stop();
      const before = events.length;
      const end = await runner.triggerSchedule('poll');
      assert.equal(end.outcome, 'success');
      assert.equal(end.kind, 'schedule');
      assert.equal(events.length, before + 1);
    } finally {
      await runner.stop();
    }
  });

  test('custom input is the event, verbatim', async () => {
    const runner = new LocalRunner({ sqs: clients.sqs });
    const got: unknown[] = [];
    runner.addSchedule({
      name: 'in',
      everyMs: 60_000,
      input: { task: 'poll', n: 1 },
      handler: (e: unknown) => got.push(e),
    });
    try {
      await runner.triggerSchedule('in');
      assert.deepStrictEqual(got, [{ task: 'poll', n: 1 }]);
    } finally {
      await runner.stop();
    }
  });
});

describe('HTTP API (payload format 2.0)', () => {
  let runner: LocalRunner;
  let base: string;
  const seen: APIGatewayProxyEventV2[] = [];
  let respond: (e: APIGatewayProxyEventV2) => unknown = () => ({ statusCode: 204 });

  before(async () => {
    runner = new LocalRunner({ sqs: clients.sqs });
    const api = await runner.serveHttpApi({
      integrationTimeoutMs: 300,
      routes: [
        {
          routeKey: 'POST /callbacks/{vendor}/{token}',
          handler: async (e) => {
            seen.push(e);
            return respond(e);
          },
        },
        {
          routeKey: 'GET /files/{path+}',
          handler: async (e) => ({ statusCode: 200, body: e.pathParameters?.path }),
        },
        { routeKey: 'GET /files/special', handler: async () => ({ statusCode: 200, body: 'static wins' }) },
      ],
    });
    base = api.url;
  });
  after(() => runner.stop());

  test('request → event: path parameters, headers, cookies, query, context, text body', async () => {
    respond = () => ({
      statusCode: 202,
      headers: { 'X-Result': 'yes' },
      cookies: ['s=1; Path=/'],
      body: 'accepted',
    });
    const res = await request(`${base}/callbacks/v7-darwin/tok%20en%2F1?x=1&x=2&y=%C3%BC`, {
      method: 'POST',
      headers: [
        'Content-Type',
        'application/json',
        'X-Multi',
        'a',
        'X-Multi',
        'b',
        'Cookie',
        'c1=v1; c2=v2',
        'User-Agent',
        'relay-test/1',
      ],
      body: JSON.stringify({ status: 'done' }),
    });
    assert.equal(res.statusCode, 202);
    assert.equal(res.headers['x-result'], 'yes');
    assert.equal(res.headers['set-cookie'], 's=1; Path=/');
    assert.equal(typeof res.headers['apigw-requestid'], 'string');
    assert.equal(await res.body.text(), 'accepted');
    const e = seen.at(-1)!;
    assert.equal(e.version, '2.0');
    assert.equal(e.routeKey, 'POST /callbacks/{vendor}/{token}');
    assert.equal(e.rawPath, '/callbacks/v7-darwin/tok en/1');
    assert.equal(e.rawQueryString, 'x=1&x=2&y=%C3%BC');
    assert.deepStrictEqual(e.queryStringParameters, { x: '1,2', y: 'ü' });
    assert.deepStrictEqual(e.pathParameters, { vendor: 'v7-darwin', token: 'tok en/1' });
    assert.deepStrictEqual(e.cookies, ['c1=v1', 'c2=v2']);
    assert.equal(e.headers['x-multi'], 'a,b');
    assert.equal(e.headers['content-type'], 'application/json');
    assert.equal(e.headers.cookie, undefined);
    assert.equal(e.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(e.headers['x-forwarded-proto'], 'http');
    assert.equal(e.body, '{"status":"done"}');
    assert.equal(e.isBase64Encoded, false);
    assert.equal(e.requestContext.http.method, 'POST');
    assert.equal(e.requestContext.http.path, '/callbacks/v7-darwin/tok en/1');
    assert.equal(e.requestContext.http.protocol, 'HTTP/1.1');
    assert.equal(e.requestContext.http.sourceIp, '127.0.0.1');
    assert.equal(e.requestContext.http.userAgent, 'relay-test/1');
    assert.equal(e.requestContext.routeKey, e.routeKey);
    assert.equal(e.requestContext.stage, '$default');
    assert.equal(e.requestContext.accountId, '000000000000');
    assert.equal(e.requestContext.domainName, '127.0.0.1');
    assert.equal(e.requestContext.requestId, res.headers['apigw-requestid']);
    assert.ok(Math.abs(e.requestContext.timeEpoch - Date.now()) < 60_000);
    assert.match(e.requestContext.time, /^\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d \+0000$/);
  });

  test('answers only this machine: a foreign Host (DNS rebinding) or a cross-site Origin runs nothing', async () => {
    respond = () => ({ statusCode: 204 });
    const port = new URL(base).port;
    const before = seen.length;
    const post = (headers: Record<string, string>) =>
      request(`${base}/callbacks/v7-darwin/t`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain', ...headers },
        body: '{}',
      });
    const rebound = await post({ host: `rebind.attacker.example:${port}` });
    assert.equal(rebound.statusCode, 421);
    await rebound.body.dump();
    const crossSite = await post({ origin: 'https://attacker.example' });
    assert.equal(crossSite.statusCode, 403);
    await crossSite.body.dump();
    assert.equal(seen.length, before, 'no handler ran');
    // The page on its own origin, and a client that names the API as localhost, are this machine.
    const ours: Record<string, string>[] = [
      { origin: `http://127.0.0.1:${port}` },
      { host: `localhost:${port}` },
    ];
    for (const headers of ours) {
      const ok = await post(headers);
      assert.equal(ok.statusCode, 204, JSON.stringify(headers));
      await ok.body.dump();
    }
    assert.equal(seen.length, before + 2);
  });

  test('binary body → isBase64Encoded; no body → no body field', async () => {
    respond = () => ({ statusCode: 204 });
    const bytes = Buffer.from([0, 255, 1, 254]);
    const res = await request(`${base}/callbacks/a/b`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    assert.equal(res.statusCode, 204);
    await res.body.dump();
    const e = seen.at(-1)!;
    assert.equal(e.isBase64Encoded, true);
    assert.deepStrictEqual(Buffer.from(e.body!, 'base64'), bytes);
    const res2 = await request(`${base}/callbacks/a/b`, { method: 'POST' });
    await res2.body.dump();
    assert.equal('body' in seen.at(-1)!, false);
    assert.equal(seen.at(-1)!.isBase64Encoded, false);
    assert.equal('queryStringParameters' in seen.at(-1)!, false);
  });

  test('result mapping: plain object/string → 200 JSON; structured base64 body decoded', async () => {
    respond = () => ({ ok: true, n: 1 });
    let res = await request(`${base}/callbacks/a/b`, { method: 'POST' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.equal(await res.body.text(), '{"ok":true,"n":1}');
    respond = () => 'hello';
    res = await request(`${base}/callbacks/a/b`, { method: 'POST' });
    assert.equal(res.statusCode, 200);
    assert.equal(await res.body.text(), '"hello"');
    respond = () => ({ statusCode: 200, isBase64Encoded: true, body: Buffer.from('bin').toString('base64') });
    res = await request(`${base}/callbacks/a/b`, { method: 'POST' });
    assert.equal(await res.body.text(), 'bin');
  });

  test("API Gateway's own answers: 404, 500, 503", async () => {
    let res = await request(`${base}/nope`, { method: 'POST' });
    assert.equal(res.statusCode, 404);
    assert.deepStrictEqual(await res.body.json(), { message: 'Not Found' });
    res = await request(`${base}/callbacks/a/b`, { method: 'GET' });
    assert.equal(res.statusCode, 404);
    await res.body.dump();
    respond = () => {
      throw new Error('handler bug');
    };
    res = await request(`${base}/callbacks/a/b`, { method: 'POST' });
    assert.equal(res.statusCode, 500);
    assert.deepStrictEqual(await res.body.json(), { message: 'Internal Server Error' });
    respond = () => sleep(1000).then(() => ({ statusCode: 200 }));
    res = await request(`${base}/callbacks/a/b`, { method: 'POST' });
    assert.equal(res.statusCode, 503);
    assert.deepStrictEqual(await res.body.json(), { message: 'Service Unavailable' });
  });

  test('greedy path parameter; a static route beats it', async () => {
    let res = await request(`${base}/files/a/b/c.txt`);
    assert.equal(await res.body.text(), 'a/b/c.txt');
    res = await request(`${base}/files/special`);
    assert.equal(await res.body.text(), 'static wins');
  });
});
