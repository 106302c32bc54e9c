/**
 * What must hold when things go wrong: a forwarder killed mid-send, a burst against the vendor's rate limit,
 * credentials the vendor refuses.
 *
 * Nothing here races the wall clock: each test waits for its outcome with a deadline far above what it needs
 * on an idle machine (CI runs on 2 cores the suite itself fills), and asserts what happened, never how fast.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Context, SQSEvent } from 'aws-lambda';
import { TABLE } from '#commons/table.ts';
import type { LambdaFunction } from '#local/lambda-context.ts';
import type { ReceivedRequest } from '#simulators/framework/index.ts';
import { makeJpeg } from '#simulators/media/index.ts';
import { type Harness, instrumentalTransmit, startHarness, TEST_KEYS, type Uploaded } from './harness.ts';

const CRASH_KEY = 'line-1/AOI-9/SN-9001_20260105T170000Z.jpg';
let h: Harness;
let child: ChildProcess | undefined;
let firstInvocationDone: Promise<void> | undefined;

/**
 * The forwarder as the runner sees it: the first batch that holds CRASH_KEY goes to a child process that is
 * killed while its request is in flight; everything else runs in-process as usual.
 */
function gate(real: LambdaFunction<SQSEvent>, deadLetterUrl: string): LambdaFunction<SQSEvent> {
  let crashed = false;
  return async (event: SQSEvent, context: Context) => {
    if (crashed || !event.Records.some((r) => r.body.includes(CRASH_KEY))) return real(event, context);
    crashed = true;
    child = spawn(process.execPath, ['--import', 'tsx', 'test/e2e/forwarder-child.ts'], {
      env: {
        ...process.env,
        ...h.stack.env,
        FORWARDER_EVENT: JSON.stringify(event),
        FORWARDER_DLQ: deadLetterUrl,
        FORWARDER_TIMEOUT_MS: '10000',
        RELAY_LOG_LEVEL: 'error',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    firstInvocationDone = once(child, 'exit').then(() => undefined);
    await firstInvocationDone;
    throw new Error('forwarder process was killed');
  };
}

before(async () => {
  let realForwarder: ((v: string, q: { deadLetterUrl: string }) => LambdaFunction<SQSEvent>) | undefined;
  const { createForwarderHandler } = await import('#handlers/forwarder.ts');
  realForwarder = (v, q) => createForwarderHandler(v, q) as unknown as LambdaFunction<SQSEvent>;
  h = await startHarness({
    relay: { pause_probe_seconds: 3 },
    transmits: (url) => [
      instrumentalTransmit('instrumental-main', url, 'relay-tests/instrumental'),
      instrumentalTransmit('instrumental-burst', url, 'relay-tests/instrumental-burst', {
        filter_stream: ['line-1:aoi-camera'],
      }),
      instrumentalTransmit('instrumental-rotating', url, 'relay-tests/rotating'),
    ],
    stack: {
      secrets: {
        'relay-tests/instrumental': TEST_KEYS.main,
        'relay-tests/instrumental-burst': TEST_KEYS.burst,
        'relay-tests/rotating': 'relay-tests:ci:INST:V1:revoked-key:not-a-real-secret',
      },
      queues: { vendors: { visibilityTimeoutSeconds: 12 } },
      forwarder: { functionTimeoutMs: 10_000, batchSize: 10, maxConcurrency: 4 },
      handlers: { forwarder: (v, q) => gate(realForwarder!(v, q), q.deadLetterUrl) },
    },
  });
});
after(async () => {
  child?.kill('SIGKILL');
  await h?.stop();
});

/** Per test: generous, because the machine may be loaded; what is asserted is the outcome, not the time. */
const SLOW = { timeout: 600_000 };

describe('resilience', () => {
  it('a forwarder killed mid-send: delivered exactly once after its lease expires', SLOW, async () => {
    const since = h.sim.requests.at(-1)?.seq ?? 0;
    // Hold the first ingest request open for a while so the kill lands while it is in flight.
    h.sim.faults.enqueue({ route: 'ingestImage', delayMs: 1500 });
    const started = new Promise<void>((resolve) => {
      h.sim.on('request', function onRequest(r: ReceivedRequest) {
        if (r.route === 'ingestImage') {
          h.sim.off('request', onRequest);
          resolve();
        }
      });
    });
    const obj = await h.upload(CRASH_KEY, makeJpeg({ width: 32, height: 32, seed: 9 }));
    await started;
    assert.ok(child, 'the first send ran in the child process');
    child.kill('SIGKILL');
    await firstInvocationDone;

    const recs = await h.waitFor(
      obj,
      (all) =>
        ['UPLOADED', 'REJECTED', 'DEAD'].includes(
          all.find((r) => r.destination === 'instrumental-main')?.status ?? '',
        ),
      300_000,
    );
    const forMain = recs.find((r) => r.destination === 'instrumental-main');
    assert.equal(forMain?.status, 'UPLOADED', JSON.stringify(forMain));
    assert.equal(forMain?.attempts, 2, 'the killed send and the one that went through');
    assert.equal(forMain?.ambiguousSends, 1, 'the killed send is counted: the vendor might have had it');
    const sends = forMain?.history.filter((x) => x.status === 'SENDING') ?? [];
    assert.equal(sends.length, 2);
    const stored = h.sim
      .files()
      .filter((f) => f.fileName === 'SN-9001_20260105T170000Z.jpg' && f.keyIdentifier === 'fake-key-id');
    assert.equal(stored.length, 1, 'the vendor stored the file once for this destination');
    assert.equal(stored[0]?.fileId, forMain?.vendorRef);
    const aborted = h.sim.requestsTo('ingestImage').filter((r) => r.seq > since && r.outcome === 'aborted');
    assert.ok(
      aborted.length >= 1,
      `the killed request reached the vendor and was cut off: ${JSON.stringify(
        h.sim
          .requestsTo('ingestImage')
          .filter((r) => r.seq > since)
          .map((r) => [r.outcome, r.status, r.details]),
      )}`,
    );
  });

  it('a burst over the 50 / 5 per second bucket is sent without tripping 429s', SLOW, async () => {
    const objs: Uploaded[] = [];
    const since = h.sim.requests.at(-1)?.seq ?? 0;
    await Promise.all(
      Array.from({ length: 60 }, async (_, i) => {
        objs.push(
          await h.upload(
            `line-1/BURST/SN-B${String(i).padStart(3, '0')}_20260105T180000Z.jpg`,
            makeJpeg({ width: 8, height: 8, seed: 1000 + i }),
          ),
        );
      }),
    );
    for (const obj of objs) {
      await h.waitFor(
        obj,
        (recs) =>
          recs.some(
            (r) =>
              r.destination === 'instrumental-burst' && ['PENDING_VALIDATION', 'UPLOADED'].includes(r.status),
          ),
        300_000,
      );
    }
    const burstKeyRequests = h.sim
      .requestsTo('ingestImage')
      .filter((r) => r.seq > since && r.details.key === 'fake-key-id-2');
    const limited = burstKeyRequests.filter((r) => r.status === 429);
    assert.ok(burstKeyRequests.length >= 60, `the burst key sent ${burstKeyRequests.length} requests`);
    assert.equal(limited.length, 0, 'the shared bucket kept the relay under the vendor limit');
  });

  it(
    'a refused API key pauses the destination and holds its deliveries, spending no attempt',
    SLOW,
    async () => {
      // Every file of this suite also goes to `instrumental-rotating`, whose key the vendor refuses.
      const obj = await h.upload(
        'line-1/ROT/SN-R1_20260105T190000Z.jpg',
        makeJpeg({ width: 8, height: 8, seed: 2000 }),
      );
      await h.waitFor(
        obj,
        (recs) => recs.some((r) => r.destination === 'instrumental-rotating' && r.status === 'HELD'),
        300_000,
      );
      const state = await h.stack.clients.ddb.send(
        new GetCommand({
          TableName: h.stack.tableName,
          Key: { pk: 'destination#instrumental-rotating', sk: 'state' },
        }),
      );
      assert.equal(state.Item?.paused, true);
      assert.equal(state.Item?.reason?.code, 'AUTH_FAILED');
      const rec = (await h.records(obj)).find((r) => r.destination === 'instrumental-rotating');
      assert.ok(
        ['DESTINATION_PAUSED', 'AUTH_FAILED'].includes(rec?.lastError?.code ?? ''),
        `a held delivery says why it waits: ${JSON.stringify(rec?.lastError)}`,
      );
      assert.equal(rec?.attempts, 0, 'a held delivery spends no attempt');
      // Every other file of the suite for this destination waits in the table, not in the queue: only the first
      // sends of concurrent forwarders and one probe per pause_probe_seconds (3 s) were refused.
      const refused = h.sim.requestsTo('ingestImage').filter((r) => r.status === 401);
      const pausedForMs = Date.now() - Date.parse(refused[0]?.at ?? new Date().toISOString());
      const bound = 4 + Math.ceil(pausedForMs / 3000) + 1;
      assert.ok(
        refused.length >= 1 && refused.length <= bound,
        `${refused.length} refused requests (bound ${bound})`,
      );
      const held = await h.stack.clients.ddb.send(
        new QueryCommand({
          TableName: h.stack.tableName,
          IndexName: TABLE.indexes.byDue.name,
          KeyConditionExpression: '#due = :due',
          ExpressionAttributeNames: { '#due': TABLE.indexes.byDue.partitionKey },
          ExpressionAttributeValues: { ':due': 'instrumental-rotating#HELD' },
        }),
      );
      assert.ok((held.Count ?? 0) >= 60, `${held.Count} deliveries held, not sent`);
      // What an operator does next: rotate the key. The next probe sends one delivery; its success resumes the
      // destination and the poller queues the held deliveries again.
      await h.stack.clients.secrets.send(
        new PutSecretValueCommand({ SecretId: 'relay-tests/rotating', SecretString: TEST_KEYS.main }),
      );
      const after = await h.waitFor(
        obj,
        (recs) =>
          ['PENDING_VALIDATION', 'UPLOADED'].includes(
            recs.find((r) => r.destination === 'instrumental-rotating')?.status ?? '',
          ),
        300_000,
      );
      const resumed = await h.stack.clients.ddb.send(
        new GetCommand({
          TableName: h.stack.tableName,
          Key: { pk: 'destination#instrumental-rotating', sk: 'state' },
        }),
      );
      assert.equal(resumed.Item?.paused, false);
      const delivered = after.find((r) => r.destination === 'instrumental-rotating');
      assert.equal(
        delivered?.attempts,
        1,
        `the pause cost the delivery no attempt: ${JSON.stringify(delivered?.history)}`,
      );
      assert.ok(delivered?.history.some((x) => x.status === 'HELD'));
    },
  );
});
