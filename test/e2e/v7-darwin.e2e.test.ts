/**
 * V7 Darwin end to end: S3 put → router → V7 queue → forwarder → V7 Darwin simulator → status table, on the
 * local stack (real handlers, real AWS SDK against the emulators, real HTTP to the simulators).
 *
 * - `line-1/…` keys go to a standard-upload destination and to three that V7 refuses as a whole (a revoked
 *   key, a dataset that does not exist, a team without storage): each of those must be held, not failed.
 * - `line-2/…` keys go to a destination on a second simulator whose faults the tests script (one at a time,
 *   nothing else talks to it).
 * - `line-3/…` keys go to an External Storage destination: V7 reads the bucket itself, the relay reads nothing.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { DataTransmit, RelayConfig } from '#domain/config/types.ts';
import type { DeliveryRecord } from '#domain/delivery.ts';
import { defaultResourceNames } from '#local/resources.ts';
import type { ObjectRequest } from '#local/s3-hooks.ts';
import { type LocalStack, startLocalStack } from '#local/stack.ts';
import { makeJpeg, makeMp4 } from '#simulators/media/index.ts';
import { V7DarwinSimulator } from '#simulators/v7-darwin/index.ts';
import { V7_ASSUMPTIONS } from '../../lambdas/vendors/v7-darwin/assumptions.ts';
import { type StackHelpers, stackHelpers, type Uploaded } from './harness.ts';

/** Obviously fake keys. */
const KEYS = {
  acme: 'e2e-v7-acme-key-not-a-secret',
  revoked: 'e2e-v7-revoked-key-not-a-secret',
  full: 'e2e-v7-full-team-key-not-a-secret',
  faults: 'e2e-v7-faults-key-not-a-secret',
};
const TIMEOUT = 60_000;
const FINAL = ['UPLOADED', 'ALREADY_PRESENT', 'REJECTED', 'DEAD', 'UNCONFIRMED', 'HELD'];

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const jpeg = (seed: number) => makeJpeg({ width: 64, height: 48, seed });

function config(mainUrl: string, faultsUrl: string): RelayConfig {
  // Only line-1 has sidecars (tags): the router waits a few seconds for a sidecar that may follow its file.
  const stream = (asset: string) => ({
    asset,
    stream_type: 'aoi-camera',
    key_pattern: `${asset}/{station}/{serial}_{taken_at}.{ext}`,
    ...(asset === 'line-1' ? { sidecar: { mode: 'append' as const, suffix: '.json', required: false } } : {}),
    required: ['serial', 'station'],
  });
  const v7 = (name: string, asset: string, url: string, options: Record<string, unknown>): DataTransmit => ({
    transmit_name: name,
    transmit_type: 'v7-darwin',
    filter_stream: [`${asset}:aoi-camera`],
    base_url: url,
    api_key_secret: `e2e/${name}`,
    options: options as never,
    fields: {
      name: '{serial}_{taken_at}.{ext}',
      path: '/{stream.asset}/{station}',
      ...(asset === 'line-1' ? { tags: '{sidecar.tags}' } : {}),
    },
  });
  return {
    version: 1,
    relay: { max_attempts: 6, backoff_base_seconds: 0.2, backoff_max_seconds: 1, pause_probe_seconds: 600 },
    data_receiver: [
      {
        data_receiver_name: 'factory-bucket',
        protocol: 's3',
        streams: [stream('line-1'), stream('line-2'), stream('line-3')],
      },
    ],
    data_transmit: [
      v7('v7-upload', 'line-1', mainUrl, { team_slug: 'acme', dataset_slug: 'line-1', video: { fps: 2 } }),
      v7('v7-revoked', 'line-1', mainUrl, { team_slug: 'acme', dataset_slug: 'line-1' }),
      v7('v7-no-dataset', 'line-1', mainUrl, { team_slug: 'acme', dataset_slug: 'no-such-dataset' }),
      v7('v7-full', 'line-1', mainUrl, { team_slug: 'full', dataset_slug: 'line-1' }),
      v7('v7-faults', 'line-2', faultsUrl, { team_slug: 'acme', dataset_slug: 'line-2' }),
      v7('v7-external', 'line-3', mainUrl, {
        team_slug: 'acme',
        dataset_slug: 'external',
        external_storage: { storage_slug: 'factory-ingest', bucket: defaultResourceNames().ingestBucket },
      }),
    ],
  };
}

let main: V7DarwinSimulator;
let faults: V7DarwinSimulator;
let stack: LocalStack;
let h: StackHelpers;
const objectRequests: ObjectRequest[] = [];

before(async () => {
  const teams = {
    acme: {
      datasets: ['line-1', 'line-2', 'external'],
      storages: ['factory-ingest'],
      tags: ['rework', 'ok'],
    },
    full: { datasets: ['line-1'], remainingStorageBytes: 0 },
  };
  main = new V7DarwinSimulator({
    seed: 3,
    apiKeys: { [KEYS.acme]: { team: 'acme' }, [KEYS.full]: { team: 'full' } },
    teams,
  });
  faults = new V7DarwinSimulator({
    seed: 4,
    apiKeys: { [KEYS.faults]: { team: 'acme' } },
    teams,
    s3IdleTimeoutMs: 2_000,
  });
  const [mainUrl, faultsUrl] = await Promise.all([main.start(), faults.start()]);
  stack = await startLocalStack({
    config: config(mainUrl, faultsUrl),
    secrets: {
      'e2e/v7-upload': KEYS.acme,
      'e2e/v7-revoked': KEYS.revoked,
      'e2e/v7-no-dataset': KEYS.acme,
      'e2e/v7-full': KEYS.full,
      'e2e/v7-faults': KEYS.faults,
      'e2e/v7-external': KEYS.acme,
    },
    pollEveryMs: 250,
    logLevel: 'error',
    // No batching windows: each test waits for its own few files (the batching itself is the plug-in's infra).
    router: { maximumBatchingWindowMs: 0 },
    forwarder: { batchSize: 10, maximumBatchingWindowMs: 0 },
  });
  stack.emulators.s3Events.on('objectRequest', (r) => objectRequests.push(r));
  h = stackHelpers(stack);
});
after(async () => {
  await stack?.stop();
  await Promise.allSettled([main?.stop(), faults?.stop()]);
});

const of = (recs: DeliveryRecord[], destination: string) => recs.find((r) => r.destination === destination);
const settledFor = (destinations: string[]) => (recs: DeliveryRecord[]) =>
  destinations.every((d) => FINAL.includes(of(recs, d)?.status ?? ''));
const statsOf = (sim: V7DarwinSimulator, name: string) => {
  const s = sim.stats().items.find((i) => i.name === name);
  assert.ok(s, `V7 saw item ${name}`);
  return s;
};
const history = (rec: DeliveryRecord | undefined) => rec?.history.map((x) => x.status);

describe('V7 standard upload, end to end', () => {
  const line1 = ['v7-upload', 'v7-revoked', 'v7-no-dataset', 'v7-full'];
  let files: Array<{ obj: Uploaded; body: Buffer; name: string }>;
  let settled: DeliveryRecord[][];

  before(async () => {
    const bodies = [jpeg(1), jpeg(2), makeMp4({ codec: 'avc1', width: 320, height: 240 })];
    const names = ['SN-1_20260105T081500Z.jpg', 'SN-2_20260105T081501Z.jpg', 'SN-3_20260105T081502Z.mp4'];
    await h.upload('line-1/aoi-top/SN-1_20260105T081500Z.jpg.json', Buffer.from('{"tags":["rework"]}'));
    files = await Promise.all(
      names.map(async (name, i) => ({
        obj: await h.upload(`line-1/aoi-top/${name}`, bodies[i] as Buffer),
        body: bodies[i] as Buffer,
        name,
      })),
    );
    settled = await Promise.all(files.map((f) => h.waitFor(f.obj, settledFor(line1), TIMEOUT)));
  });

  it('registers each file once, PUTs its bytes once, confirms it: UPLOADED with the V7 item id', () => {
    files.forEach((f, i) => {
      const rec = of(settled[i] ?? [], 'v7-upload');
      assert.equal(rec?.status, 'UPLOADED', JSON.stringify(rec?.lastError));
      assert.deepEqual(history(rec), ['QUEUED', 'SENDING', 'UPLOADED']);
      const item = main.items('acme', 'line-1').find((x) => x.name === f.name);
      assert.equal(rec?.vendorRef, item?.id);
      assert.equal(item?.path, '/line-1/aoi-top');
      assert.equal(item?.slots[0]?.sha256, sha(f.body));
      assert.equal(item?.status, 'complete');
      const s = statsOf(main, f.name);
      assert.deepEqual(
        [s.registerCalls, s.putRequests, s.bytesPut, s.confirmRequests],
        [1, 1, f.body.length, 1],
      );
      assert.equal(rec?.checkpoint?.step, 'confirmed');
    });
    const items = main.items('acme', 'line-1');
    assert.deepEqual(items.find((x) => x.name === files[0]?.name)?.slots[0]?.tags, ['rework']);
    assert.equal(items.find((x) => x.name.endsWith('.mp4'))?.slots[0]?.fps, 2);
  });

  it('401: the destination is paused and its deliveries held, no attempt spent', async () => {
    for (const recs of settled) {
      const rec = of(recs, 'v7-revoked');
      assert.equal(rec?.status, 'HELD');
      assert.ok(
        ['AUTH_FAILED', 'DESTINATION_PAUSED'].includes(rec?.lastError?.code ?? ''),
        JSON.stringify(rec?.lastError),
      );
      assert.equal(rec?.attempts, 0);
    }
    const state = await stack.clients.ddb.send(
      new GetCommand({ TableName: stack.tableName, Key: { pk: 'destination#v7-revoked', sk: 'state' } }),
    );
    assert.equal(state.Item?.paused, true);
    assert.equal(state.Item?.reason?.code, 'AUTH_FAILED');
    assert.equal(state.Item?.reason?.httpStatus, 401);
  });

  it('404 of the dataset and 429 INSUFFICIENT_REMAINING_STORAGE hold their destinations, with a code ops can read', async () => {
    for (const [destination, code] of [
      ['v7-no-dataset', 'DATASET_NOT_FOUND'],
      ['v7-full', 'STORAGE_EXHAUSTED'],
    ] as const) {
      for (const recs of settled) {
        const rec = of(recs, destination);
        assert.equal(rec?.status, 'HELD', destination);
        assert.ok(
          [code, 'DESTINATION_PAUSED'].includes(rec?.lastError?.code ?? ''),
          JSON.stringify(rec?.lastError),
        );
      }
      const state = await stack.clients.ddb.send(
        new GetCommand({
          TableName: stack.tableName,
          Key: { pk: `destination#${destination}`, sk: 'state' },
        }),
      );
      assert.equal(state.Item?.paused, true, destination);
      assert.equal(state.Item?.reason?.code, code);
    }
  });

  it('blocked items: ALREADY_EXISTS → ALREADY_PRESENT, UNKNOWN_TAGS → REJECTED with the reason', async () => {
    // A new version of a file V7 already has (same item name and folder).
    const again = await h.upload(`line-1/aoi-top/${files[1]?.name}`, jpeg(22));
    await h.upload('line-1/aoi-top/SN-9_20260105T090000Z.jpg.json', Buffer.from('{"tags":["no-such-tag"]}'));
    const tagged = await h.upload('line-1/aoi-top/SN-9_20260105T090000Z.jpg', jpeg(9));
    const [present, rejected] = await Promise.all(
      [again, tagged].map(async (obj) =>
        of(await h.waitFor(obj, settledFor(['v7-upload']), TIMEOUT), 'v7-upload'),
      ),
    );
    assert.equal(present?.status, 'ALREADY_PRESENT');
    assert.equal(present?.vendorRef, settled[1] && of(settled[1], 'v7-upload')?.vendorRef);
    assert.equal(rejected?.status, 'REJECTED');
    assert.equal(rejected?.lastError?.code, 'UNKNOWN_TAGS');
    assert.equal(rejected?.lastError?.vendorCode, 'UNKNOWN_TAGS');
    assert.match(rejected?.lastError?.message ?? '', /no-such-tag/);
  });
});

describe('V7: failures at each step resume at that step through the relay', () => {
  /** Uploads one line-2 file with `inject` queued on the faults simulator; waits for its final record. */
  async function deliverWith(name: string, body: Buffer, inject: () => void): Promise<DeliveryRecord> {
    inject();
    const obj = await h.upload(`line-2/st/${name}`, body);
    const rec = of(await h.waitFor(obj, settledFor(['v7-faults']), TIMEOUT), 'v7-faults');
    assert.ok(rec);
    return rec;
  }
  const tries = V7_ASSUMPTIONS.maxApiTriesPerStep;

  for (const [step, route, inject, saved] of [
    [
      'sign',
      'signUpload',
      (n: number) => faults.faults.enqueue({ route: 'signUpload', status: 503, times: n }),
      'registered',
    ],
    ['PUT', 's3Put', (n: number) => faults.injectS3SlowDown(n), 'registered'],
    [
      'confirm',
      'confirmUpload',
      (n: number) => faults.faults.enqueue({ route: 'confirmUpload', status: 500, times: n }),
      'uploaded',
    ],
  ] as const) {
    it(`${step}: every try of the first attempt fails; the next attempt starts at ${step}`, async () => {
      const body = jpeg(route.length);
      const name = `SN-${route}_20260105T100000Z.jpg`;
      const n = route === 's3Put' ? V7_ASSUMPTIONS.maxPutsPerAttempt : tries;
      const rec = await deliverWith(name, body, () => inject(n));
      assert.equal(rec.status, 'UPLOADED', JSON.stringify(rec.lastError));
      assert.deepEqual(history(rec), ['QUEUED', 'SENDING', 'RETRYING', 'SENDING', 'UPLOADED']);
      assert.equal(rec.attempts, 2);
      const s = statsOf(faults, name);
      assert.equal(s.registerCalls, 1, 'registered once');
      assert.equal(s.slots[0]?.uploads, 1, 'one PUT stored');
      // After confirm nothing more is PUT; before it, only the failed PUTs were re-sent.
      assert.equal(s.putRequests, route === 's3Put' ? n + 1 : 1);
      assert.equal(s.signRequests, route === 'signUpload' ? n + 1 : route === 's3Put' ? 2 : 1);
      assert.equal(s.confirmRequests, route === 'confirmUpload' ? n + 1 : 1);
      assert.ok(
        rec.history.some((x) => x.status === 'RETRYING'),
        `the first attempt stopped at ${saved}, the second resumed there`,
      );
    });
  }

  it('lost answers after the PUT and after the confirm: nothing is sent twice', async () => {
    const body = jpeg(77);
    const name = 'SN-lost_20260105T100100Z.jpg';
    const rec = await deliverWith(name, body, () => {
      faults.loseAnswers('s3Put');
      faults.loseAnswers('confirmUpload', { status: 504 });
    });
    assert.equal(rec.status, 'UPLOADED');
    const s = statsOf(faults, name);
    assert.deepEqual([s.registerCalls, s.putRequests, s.bytesPut, s.confirmRequests], [1, 1, body.length, 2]);
  });

  it("422: REJECTED with V7's errors", async () => {
    const rec = await deliverWith('SN-422_20260105T100200Z.jpg', jpeg(78), () =>
      faults.faults.enqueue({
        route: 'registerUpload',
        status: 422,
        body: { errors: { code: 'INVALID_REQUEST', 'items[0].name': ['is reserved'] } },
      }),
    );
    assert.equal(rec.status, 'REJECTED');
    assert.deepEqual(rec.lastError, {
      code: 'INVALID_REQUEST',
      message: 'V7 refused the item: name: is reserved',
      httpStatus: 422,
      vendorCode: 'INVALID_REQUEST',
    });
  });

  it('429 with Retry-After: retried no sooner than V7 asked; without it: retried on the backoff', async () => {
    const withHeader = await deliverWith('SN-429a_20260105T100300Z.jpg', jpeg(79), () =>
      faults.injectRateLimit('registerUpload', { retryAfterSeconds: 2 }),
    );
    assert.equal(withHeader.status, 'UPLOADED');
    assert.ok(withHeader.history.some((x) => x.status === 'RETRYING' && x.code === 'RATE_LIMITED'));
    const registers = faults.requestsTo('registerUpload').slice(-2);
    assert.deepEqual(
      registers.map((r) => r.status),
      [429, 200],
    );
    const gap = Date.parse(registers[1]?.at ?? '') - Date.parse(registers[0]?.at ?? '');
    assert.ok(gap >= 2_000, `the register came back ${gap} ms after a Retry-After of 2 s`);

    const without = await deliverWith('SN-429b_20260105T100301Z.jpg', jpeg(80), () =>
      faults.injectRateLimit('registerUpload'),
    );
    assert.equal(without.status, 'UPLOADED');
    assert.ok(without.history.some((x) => x.status === 'RETRYING' && x.code === 'RATE_LIMITED'));
  });
});

describe('V7 External Storage, end to end', () => {
  it('registers the object by its key; the relay reads none of its bytes (0 GetObject)', async () => {
    const bodies = [jpeg(90), makeMp4({ codec: 'avc1', width: 320, height: 240, padToBytes: 3_000_000 })];
    const keys = ['line-3/cam-2/SN-5_20260105T110000Z.jpg', 'line-3/cam-2/SN-6_20260105T110001Z.mp4'];
    const objs = await Promise.all(keys.map((k, i) => h.upload(k, bodies[i] as Buffer)));
    const recs = await Promise.all(objs.map((o) => h.waitFor(o, settledFor(['v7-external']), TIMEOUT)));
    keys.forEach((key, i) => {
      const rec = of(recs[i] ?? [], 'v7-external');
      assert.equal(rec?.status, 'UPLOADED', JSON.stringify(rec?.lastError));
      const item = main.items('acme', 'external').find((x) => x.slots[0]?.storage_key === key);
      assert.equal(rec?.vendorRef, item?.id);
      assert.equal(item?.storage_slug, 'factory-ingest');
      assert.equal(item?.path, '/line-3/cam-2');
      assert.equal(item?.slots[0]?.type, i === 0 ? 'image' : 'video');
    });
    const gets = objectRequests.filter((r) => keys.includes(r.key) && r.method === 'GET');
    assert.deepEqual(gets, [], 'no GetObject of an External Storage object');
    const names = keys.map((k) => k.split('/').pop());
    const bytes = main
      .stats()
      .items.filter((i) => names.includes(i.name))
      .map((i) => i.bytesPut);
    assert.deepEqual(bytes, [0, 0]);
  });
});
