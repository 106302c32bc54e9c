/**
 * A local stack on a data dir survives a restart: stop it, start it again on the same folder, and every record,
 * held delivery, queue message, secret and paused destination is where it was; a restart with another config
 * is a redeploy (its config wins over saved versions, the same config keeps them); and two stacks never share a
 * folder (the lock).
 *
 * The stack with the real handlers runs in a child process (test/local/stack-child.ts) for each run, as
 * `npm start` does: a restart in the same process would reuse the handlers' cached clients and secrets. The
 * Instrumental simulator lives in this process for both runs, so it remembers what it received.
 *
 * Nothing races the wall clock: each wait polls for its outcome with a deadline far above what it needs.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CreateTableCommand,
  DescribeTableCommand,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { GetSecretValueCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { DeliveryRecord } from '#domain/delivery.ts';
import { createLocalClients, type LocalClients } from '#local/clients.ts';
import { DATA_DIR_LAYOUT, DataDirInUseError, NotADataDirError } from '#local/data-dir.ts';
import { type Emulators, startEmulators } from '#local/emulators.ts';
import { putObject, recordsOf } from '#local/ingest.ts';
import { createResources, statusTableInput } from '#local/resources.ts';
import { LOCAL_DEFAULTS } from '#local/stack.ts';
import { InstrumentalSimulator } from '#simulators/instrumental/index.ts';
import { makeJpeg } from '#simulators/media/index.ts';
import { instrumentalTransmit, TEST_KEYS, testConfig } from '../e2e/harness.ts';
import { processExists, waitFor } from './helpers.ts';
import type { ChildMessage, StackInfo } from './stack-child.ts';

const SLOW = { timeout: 600_000 };
const WAIT_MS = 180_000;
const REVOKED_KEY = 'relay-tests:ci:INST:V1:revoked-key:not-a-real-secret';

const dirs: string[] = [];
const newDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'relay-data-'));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Child {
  info: StackInfo;
  clients: LocalClients;
  proc: ChildProcess;
  request(cmd: 'stopRunner' | 'stop'): Promise<void>;
}

const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) c.kill('SIGKILL');
});

/** Starts a stack in a child process and waits until it is up. */
async function startChild(options: Record<string, unknown>): Promise<Child> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'test/local/stack-child.ts'], {
    env: { ...process.env, STACK_OPTIONS: JSON.stringify(options) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  const next = () =>
    new Promise<ChildMessage>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`stack child exited (${code})`));
      proc.once('exit', onExit);
      proc.once('message', (m: ChildMessage) => {
        proc.off('exit', onExit);
        resolve(m);
      });
    });
  const first = await next();
  if ('failed' in first) throw new Error(`stack child failed: ${first.failed}`);
  if (!('ready' in first)) throw new Error(`unexpected message ${JSON.stringify(first)}`);
  const info = first.ready;
  const clients = createLocalClients(info.endpoints, info.region);
  return {
    info,
    clients,
    proc,
    async request(cmd) {
      const answer = next();
      proc.send({ cmd });
      await answer;
      if (cmd === 'stop') {
        clients.destroy();
        if (proc.exitCode === null) await once(proc, 'exit');
      }
    },
  };
}

/** Whether nothing listens on this port of 127.0.0.1 now. */
const portIsFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });

const clientsOf = (emu: Emulators) =>
  createLocalClients({
    s3: emu.s3Endpoint,
    sqs: emu.sqsEndpoint,
    dynamodb: emu.dynamodbEndpoint,
    secretsManager: emu.secretsEndpoint,
  });

interface Uploaded {
  key: string;
  etag: string;
  versionId?: string;
}

describe('a local stack on a data dir', () => {
  let sim: InstrumentalSimulator;
  let simUrl: string;
  before(async () => {
    sim = new InstrumentalSimulator({ apiKeys: [TEST_KEYS.main], validationDelayMs: 100 });
    simUrl = await sim.start();
  });
  after(async () => {
    await sim?.stop();
  });

  it(
    'keeps records, a held delivery, queue messages, secrets and a paused destination across a restart',
    SLOW,
    async () => {
      const dataDir = newDir();
      const config = testConfig(
        [
          instrumentalTransmit('instrumental-main', simUrl, 'relay-tests/instrumental'),
          // The vendor refuses this key: its deliveries are HELD and the destination paused.
          instrumentalTransmit('instrumental-rotating', simUrl, 'relay-tests/rotating'),
        ],
        { pause_probe_seconds: 2 },
      );
      const common = { config, dataDir, pollEveryMs: 250, logLevel: 'error' };

      // ── First run ──────────────────────────────────────────────────────────────────────────────────────
      const a = await startChild({
        ...common,
        secrets: { 'relay-tests/instrumental': TEST_KEYS.main, 'relay-tests/rotating': REVOKED_KEY },
      });
      assert.equal(a.info.dataDir, dataDir);
      assert.deepEqual(a.info.resourceChanges.existing, [], 'a new data dir starts empty');

      // While it runs, the folder is locked: this process cannot start emulators on it.
      await assert.rejects(startEmulators({ dataDir, dynamodb: false }), (err: unknown) => {
        assert.ok(err instanceof DataDirInUseError, String(err));
        assert.equal(err.owner?.pid, a.info.pid, 'the message names the process that holds it');
        assert.match(err.message, new RegExp(`in use by another local stack \\(pid ${a.info.pid}`));
        return true;
      });

      const upload = async (c: Child, key: string, body: Buffer): Promise<Uploaded> => {
        const put = await putObject(c.clients.s3, c.info.buckets.ingest, key, body);
        return { key, etag: put.etag, ...(put.versionId ? { versionId: put.versionId } : {}) };
      };
      const records = (c: Child, obj: Uploaded) =>
        recordsOf(c.clients.ddb!, c.info.tableName, { bucket: c.info.buckets.ingest, ...obj });
      const byDest = (recs: DeliveryRecord[], d: string) => recs.find((r) => r.destination === d);
      const destinationState = async (c: Child, d: string) =>
        (
          await c.clients.ddb!.send(
            new GetCommand({ TableName: c.info.tableName, Key: { pk: `destination#${d}`, sk: 'state' } }),
          )
        ).Item;

      const files: Uploaded[] = [];
      for (let i = 0; i < 3; i++)
        files.push(
          await upload(
            a,
            `line-1/AOI-P/SN-P${i}_20260105T10000${i}Z.jpg`,
            makeJpeg({ width: 16, height: 16, seed: 300 + i }),
          ),
        );
      const before: DeliveryRecord[][] = [];
      for (const f of files)
        before.push(
          await waitFor(
            `${f.key}: delivered to main, held for rotating`,
            async () => {
              const recs = await records(a, f);
              // Held at least once: its destination's probes take it out now and then (pause_probe_seconds).
              return byDest(recs, 'instrumental-main')?.status === 'UPLOADED' &&
                byDest(recs, 'instrumental-rotating')?.history.some((h) => h.status === 'HELD')
                ? recs
                : undefined;
            },
            WAIT_MS,
            100,
          ),
        );
      const pausedBefore = await destinationState(a, 'instrumental-rotating');
      assert.equal(pausedBefore?.paused, true);

      const secretNames = [
        'relay-tests/instrumental',
        'relay-tests/rotating',
        LOCAL_DEFAULTS.callbackKeySecret,
      ];
      const secretsBefore = await Promise.all(
        secretNames.map((n) => a.clients.secrets.send(new GetSecretValueCommand({ SecretId: n }))),
      );

      // A message nothing consumes (the ingest DLQ), and one the router has not read yet when the stack stops:
      // the runner stops first, then a file arrives and its S3 event waits in the ingest queue.
      await a.clients.sqs.send(
        new SendMessageCommand({ QueueUrl: a.info.ingestQueue.dlq, MessageBody: 'kept across the restart' }),
      );
      await a.request('stopRunner');
      const late = await upload(a, 'line-1/AOI-P/SN-LATE_20260105T110000Z.jpg', makeJpeg({ seed: 399 }));
      await waitFor(
        'the late file S3 event in the ingest queue',
        async () => {
          const q = await a.clients.sqs.send(
            new GetQueueAttributesCommand({
              QueueUrl: a.info.ingestQueue.url,
              AttributeNames: ['ApproximateNumberOfMessages'],
            }),
          );
          return Number(q.Attributes?.ApproximateNumberOfMessages) >= 1;
        },
        WAIT_MS,
      );
      assert.deepEqual(await records(a, late), [], 'no function ran for it before the stop');

      await a.request('stop');
      assert.equal(a.proc.exitCode, 0);
      if (a.info.dynamodbPid)
        assert.equal(processExists(a.info.dynamodbPid), false, 'DynamoDB Local stopped');

      // ── Second run on the same folder, given no secrets: they must come from the data dir ─────────────
      const b = await startChild(common);
      try {
        assert.ok(
          [
            'table factory-relay-status',
            'queue factory-relay-ingest',
            `secret ${LOCAL_DEFAULTS.callbackKeySecret}`,
            'bucket factory-relay-ingest',
          ].every((r) => b.info.resourceChanges.existing.includes(r)),
          `existing resources are kept: ${JSON.stringify(b.info.resourceChanges)}`,
        );
        assert.deepEqual(b.info.resourceChanges.updated, [], 'same config: nothing to update');
        // The HTTP API is back on its port, so callback URLs given out stay valid; it moves only when someone
        // else took the port in between.
        if (b.info.apiUrl !== a.info.apiUrl)
          assert.equal(await portIsFree(Number(new URL(a.info.apiUrl).port)), false, 'the API moved');

        for (const [i, f] of files.entries()) {
          const recs = await records(b, f);
          assert.deepEqual(
            byDest(recs, 'instrumental-main'),
            byDest(before[i]!, 'instrumental-main'),
            `${f.key}: the delivered record is unchanged`,
          );
          // Still held (read when HELD: a probe in flight counts its attempt until the 401 gives it back).
          const held = await waitFor(
            `${f.key}: still held`,
            async () => {
              const r = byDest(await records(b, f), 'instrumental-rotating');
              return r?.status === 'HELD' ? r : undefined;
            },
            WAIT_MS,
            100,
          );
          assert.equal(held.attempts, 0);
        }
        assert.equal((await destinationState(b, 'instrumental-rotating'))?.paused, true, 'still paused');

        const secretsAfter = await Promise.all(
          secretNames.map((n) => b.clients.secrets.send(new GetSecretValueCommand({ SecretId: n }))),
        );
        for (const [i, s] of secretsAfter.entries()) {
          assert.equal(s.ARN, secretsBefore[i]!.ARN, `${secretNames[i]}: same ARN`);
          assert.equal(s.SecretString, secretsBefore[i]!.SecretString, `${secretNames[i]}: same value`);
          assert.equal(s.VersionId, secretsBefore[i]!.VersionId, `${secretNames[i]}: same version`);
        }

        const dlq = await b.clients.sqs.send(
          new ReceiveMessageCommand({ QueueUrl: b.info.ingestQueue.dlq, WaitTimeSeconds: 1 }),
        );
        assert.deepEqual(
          dlq.Messages?.map((m) => m.Body),
          ['kept across the restart'],
        );

        // The event that waited in the ingest queue is routed now; the object version it names is still served.
        const lateRecs = await waitFor(
          'the late file delivered to main after the restart',
          async () => {
            const recs = await records(b, late);
            return byDest(recs, 'instrumental-main')?.status === 'UPLOADED' ? recs : undefined;
          },
          WAIT_MS,
          100,
        );
        assert.equal(byDest(lateRecs, 'instrumental-main')?.attempts, 1);

        // The operator fixes the key: every held delivery goes out, without having spent an attempt.
        await b.clients.secrets.send(
          new PutSecretValueCommand({ SecretId: 'relay-tests/rotating', SecretString: TEST_KEYS.main }),
        );
        for (const f of [...files, late]) {
          const rec = await waitFor(
            `${f.key}: delivered to rotating once the key is fixed`,
            async () => {
              const r = byDest(await records(b, f), 'instrumental-rotating');
              return r && ['PENDING_VALIDATION', 'UPLOADED'].includes(r.status) ? r : undefined;
            },
            WAIT_MS,
            100,
          );
          assert.equal(rec.attempts, 1, `${f.key}: ${JSON.stringify(rec.history)}`);
          assert.ok(rec.vendorRef, 'the vendor answered with its file id');
        }
        assert.equal((await destinationState(b, 'instrumental-rotating'))?.paused, false, 'resumed');
        // Each file reached the vendor once per destination, none twice across the restart.
        for (const f of [...files, late]) {
          const name = f.key.split('/').at(-1);
          assert.equal(sim.files().filter((x) => x.fileName === name).length, 2, `${name}: main + rotating`);
        }
      } finally {
        await b.request('stop');
      }
      assert.equal(b.proc.exitCode, 0);
    },
  );

  it(
    'a redeploy with a changed config wins over a saved version; one with the same config keeps it',
    SLOW,
    async () => {
      const dataDir = newDir();
      const inst = instrumentalTransmit('inst', simUrl, 'relay-tests/instrumental');
      const configOf = (station: string) =>
        testConfig([{ ...inst, fields: { ...inst.fields, stationName: station } }]);
      const common = { dataDir, logLevel: 'error', secrets: { 'relay-tests/instrumental': TEST_KEYS.main } };
      interface Shown {
        version: number;
        source: string;
        bakedHash: string;
        baseHash?: string;
        supersededByDeploy: boolean;
        latestSavedVersion?: number;
        config: { data_transmit: Array<{ fields: { stationName: string } }> };
      }
      const api = async <T>(c: Child, method: string, path: string, body?: unknown) => {
        const res = await fetch(`${c.info.apiUrl}${path}`, {
          method,
          headers: { 'content-type': 'application/json', 'x-relay-user': 'tester' },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        const answer = (await res.json()) as { success: boolean; response: T };
        assert.equal(answer.success, true, JSON.stringify(answer));
        return answer.response;
      };
      const shown = (c: Child) => api<Shown>(c, 'GET', '/v1/config');
      const station = (s: Shown) => s.config.data_transmit[0]?.fields.stationName;

      // ── Deploy of config x; an operator saves version 1 on it ──────────────────────────────────────────
      const a = await startChild({ ...common, config: configOf('baked-x') });
      try {
        const saved = await api<{ version: number }>(a, 'POST', '/v1/config', configOf('saved-s'));
        assert.equal(saved.version, 1);
        const now = await shown(a);
        assert.deepEqual([now.source, station(now), now.supersededByDeploy], ['store', 'saved-s', false]);
        assert.equal(now.baseHash, now.bakedHash);
      } finally {
        await a.request('stop');
      }

      // ── Deploy of a changed config y: it is in use; version 1 stays in history ───────────────────────
      const b = await startChild({ ...common, config: configOf('baked-y') });
      try {
        const now = await shown(b);
        assert.deepEqual(
          [now.source, now.version, station(now), now.supersededByDeploy, now.latestSavedVersion],
          ['baked', 0, 'baked-y', true, 1],
        );
        const { versions } = await api<{ versions: Array<{ version: number; baseHash?: string }> }>(
          b,
          'GET',
          '/v1/config/versions',
        );
        assert.equal(versions.length, 1);
        assert.notEqual(versions[0]?.baseHash, now.bakedHash, 'saved on the previous deploy');
        // Rolled back to, version 1 is saved again on top of this deploy, and applies.
        const rolled = await api<{ version: number }>(b, 'POST', '/v1/config', { rollback: 1 });
        assert.equal(rolled.version, 2);
        const after = await shown(b);
        assert.deepEqual([after.source, after.version, station(after)], ['store', 2, 'saved-s']);
      } finally {
        await b.request('stop');
      }

      // ── A code-only deploy (config y again): the saved version 2 stays in use ───────────────────────────
      const c = await startChild({ ...common, config: configOf('baked-y') });
      try {
        const now = await shown(c);
        assert.deepEqual([now.source, now.version, station(now)], ['store', 2, 'saved-s']);
      } finally {
        await c.request('stop');
      }
    },
  );
});

describe('the emulators on a data dir', () => {
  it(
    'keep objects (with their version ids), queue messages, tables and secrets across a restart',
    SLOW,
    async () => {
      const dataDir = newDir();
      const first = await startEmulators({ dataDir });
      const c1 = clientsOf(first);
      let put1: { VersionId?: string };
      let put2: { VersionId?: string };
      let queueUrl: string;
      try {
        await c1.s3.send(new CreateBucketCommand({ Bucket: 'kept-bucket' }));
        await c1.s3.send(
          new PutBucketVersioningCommand({
            Bucket: 'kept-bucket',
            VersioningConfiguration: { Status: 'Enabled' },
          }),
        );
        put1 = await c1.s3.send(
          new PutObjectCommand({ Bucket: 'kept-bucket', Key: 'a b/ü.txt', Body: 'one' }),
        );
        put2 = await c1.s3.send(
          new PutObjectCommand({ Bucket: 'kept-bucket', Key: 'a b/ü.txt', Body: 'two' }),
        );
        queueUrl = (await c1.sqs.send(new CreateQueueCommand({ QueueName: 'kept-queue' }))).QueueUrl!;
        await c1.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'in flight' }));
        // Received with a long visibility timeout: in flight across the restart, not redelivered early.
        const got = await c1.sqs.send(
          new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 1, VisibilityTimeout: 600 }),
        );
        assert.deepEqual(
          got.Messages?.map((m) => m.Body),
          ['in flight'],
        );
        await c1.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'ready' }));
        await c1.dynamodb!.send(new CreateTableCommand(statusTableInput('kept-table')));
        await c1.dynamodb!.send(
          new PutItemCommand({ TableName: 'kept-table', Item: { pk: { S: 'p' }, sk: { S: 's' } } }),
        );
        first.secrets.put('kept/secret', 'fake-value-1');
      } finally {
        c1.destroy();
        await first.stop();
      }
      const secretsFile = join(dataDir, DATA_DIR_LAYOUT.secrets);
      assert.equal(
        statSync(secretsFile).mode & 0o777,
        0o600,
        'the secrets file is readable by its owner only',
      );

      const second = await startEmulators({ dataDir });
      const c2 = clientsOf(second);
      try {
        const obj = await c2.s3.send(new GetObjectCommand({ Bucket: 'kept-bucket', Key: 'a b/ü.txt' }));
        assert.equal(await obj.Body?.transformToString(), 'two');
        assert.equal(obj.VersionId, put2.VersionId, 'the current version id is kept');
        const byVersion = await c2.s3.send(
          new HeadObjectCommand({ Bucket: 'kept-bucket', Key: 'a b/ü.txt', VersionId: put2.VersionId }),
        );
        assert.equal(
          byVersion.VersionId,
          put2.VersionId,
          'GET ?versionId= of the current version still works',
        );
        await assert.rejects(
          c2.s3.send(
            new HeadObjectCommand({ Bucket: 'kept-bucket', Key: 'a b/ü.txt', VersionId: put1.VersionId }),
          ),
          'an older version is still honestly gone',
        );
        // The old queue URL (on the first run's port) still resolves: fauxqs looks queues up by path.
        const onNewPort = `${second.sqsEndpoint}${new URL(queueUrl).pathname}`;
        const ready = await c2.sqs.send(
          new ReceiveMessageCommand({ QueueUrl: onNewPort, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
        );
        assert.deepEqual(
          ready.Messages?.map((m) => m.Body),
          ['ready'],
        );
        const attrs = await c2.sqs.send(
          new GetQueueAttributesCommand({
            QueueUrl: onNewPort,
            AttributeNames: ['ApproximateNumberOfMessagesNotVisible'],
          }),
        );
        assert.equal(
          attrs.Attributes?.ApproximateNumberOfMessagesNotVisible,
          '2',
          'in flight: the one from the first run, and this one',
        );
        const item = await c2.dynamodb!.send(
          new GetItemCommand({ TableName: 'kept-table', Key: { pk: { S: 'p' }, sk: { S: 's' } } }),
        );
        assert.deepEqual(item.Item, { pk: { S: 'p' }, sk: { S: 's' } });
        assert.equal(second.secrets.get('kept/secret'), 'fake-value-1');
      } finally {
        c2.destroy();
        await second.stop();
      }
    },
  );

  it('refuse a second user of the folder, and let go of it on stop', SLOW, async () => {
    const dataDir = newDir();
    const first = await startEmulators({ dataDir, dynamodb: false });
    try {
      await assert.rejects(startEmulators({ dataDir, dynamodb: false }), (err: unknown) => {
        assert.ok(err instanceof DataDirInUseError);
        assert.equal(err.owner?.pid, process.pid);
        assert.match(err.message, /Stop that one first/);
        return true;
      });
      // The refused start left the running one alone.
      first.secrets.put('still/serving', 'fake');
      assert.equal(first.secrets.get('still/serving'), 'fake');
    } finally {
      await first.stop();
    }
    const again = await startEmulators({ dataDir, dynamodb: false });
    await again.stop();
  });

  it('refuse a folder that holds other files', async () => {
    const dir = newDir();
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    await assert.rejects(startEmulators({ dataDir: dir, dynamodb: false }), NotADataDirError);
    assert.equal(readFileSync(join(dir, 'notes.txt'), 'utf8'), 'mine');
  });

  it('a corrupt secrets file is refused without quoting it', async () => {
    const dataDir = newDir();
    const emu = await startEmulators({ dataDir, dynamodb: false });
    await emu.stop();
    writeFileSync(join(dataDir, DATA_DIR_LAYOUT.secrets), '{"format":1,"secrets":[{"name":"x","arn":');
    await assert.rejects(startEmulators({ dataDir, dynamodb: false }), (err: Error) => {
      assert.match(err.message, /cannot be read \(not valid JSON\)/);
      assert.doesNotMatch(err.message, /"arn"/);
      return true;
    });
    // The failed start released the folder.
    rmSync(join(dataDir, DATA_DIR_LAYOUT.secrets));
    const emu2 = await startEmulators({ dataDir, dynamodb: false });
    await emu2.stop();
  });
});

describe('createResources over existing resources', () => {
  it('keeps them and updates what changed, as AWS allows', SLOW, async () => {
    const emu = await startEmulators();
    const clients = clientsOf(emu);
    try {
      // An older table: one index fewer, one with other keys.
      const input = statusTableInput('factory-relay-status');
      const [missing, changed, ...rest] = input.GlobalSecondaryIndexes!;
      const onlyMissing = new Set(missing!.KeySchema!.map((k) => k.AttributeName));
      await clients.dynamodb!.send(
        new CreateTableCommand({
          ...input,
          AttributeDefinitions: input.AttributeDefinitions!.filter((a) => !onlyMissing.has(a.AttributeName)),
          GlobalSecondaryIndexes: [
            {
              ...changed!,
              KeySchema: [
                { AttributeName: changed!.KeySchema![1]!.AttributeName, KeyType: 'HASH' },
                { AttributeName: changed!.KeySchema![0]!.AttributeName, KeyType: 'RANGE' },
              ],
            },
            ...rest,
          ],
        }),
      );
      const base = { clients, sqsEndpoint: emu.sqsEndpoint, vendors: ['instrumental'] };
      const first = await createResources({
        ...base,
        ingestQueue: { visibilityTimeoutSeconds: 30, maxReceiveCount: 5 },
        secrets: { 'relay/key': 'fake-1' },
        secretsKept: { 'relay/signing': 'fake-generated-1' },
      });
      assert.ok(first.existing.includes('table factory-relay-status'));
      assert.ok(first.updated.includes(`table factory-relay-status: index ${missing!.IndexName} created`));
      assert.ok(
        first.updated.includes(
          `table factory-relay-status: index ${changed!.IndexName} dropped (keys changed)`,
        ),
      );
      const table = await clients.dynamodb!.send(
        new DescribeTableCommand({ TableName: 'factory-relay-status' }),
      );
      for (const ix of input.GlobalSecondaryIndexes!) {
        const now = table.Table?.GlobalSecondaryIndexes?.find((x) => x.IndexName === ix.IndexName);
        assert.deepEqual(now?.KeySchema, ix.KeySchema, `${ix.IndexName} as TABLE defines it`);
      }

      const second = await createResources({
        ...base,
        ingestQueue: { visibilityTimeoutSeconds: 45, maxReceiveCount: 5 },
        secrets: { 'relay/key': 'fake-2' },
        secretsKept: { 'relay/signing': 'fake-generated-2' },
      });
      assert.deepEqual(second.secretArns, first.secretArns, 'same secrets, same ARNs');
      assert.deepEqual(second.queues, first.queues, 'same queues');
      assert.deepEqual(second.updated, [
        'queue factory-relay-ingest: VisibilityTimeout',
        'secret relay/key: new value',
      ]);
      const vt = await clients.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: second.queues.ingest.url,
          AttributeNames: ['VisibilityTimeout'],
        }),
      );
      assert.equal(vt.Attributes?.VisibilityTimeout, '45');
      const value = async (id: string) =>
        (await clients.secrets.send(new GetSecretValueCommand({ SecretId: id }))).SecretString;
      assert.equal(await value('relay/key'), 'fake-2', 'a given secret value becomes current');
      assert.equal(await value('relay/signing'), 'fake-generated-1', 'a kept secret keeps its first value');
    } finally {
      clients.destroy();
      await emu.stop();
    }
  });
});
