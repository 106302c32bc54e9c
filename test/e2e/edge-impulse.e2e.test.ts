/**
 * Edge Impulse end to end: S3 put → notifier → router → Edge Impulse queue → forwarder (batched `/files`
 * requests) → Edge Impulse simulator → status table. Real handlers, the real AWS SDK against the emulators,
 * real HTTP to the simulator. Waits poll for a condition with a generous deadline; no time is asserted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { DataTransmit } from '#domain/config/types.ts';
import type { DeliveryRecord } from '#domain/delivery.ts';
import type { DeliveryStatus } from '#domain/status.ts';
import { putObject, recordsOf } from '#local/ingest.ts';
import { type LocalStack, startLocalStack } from '#local/stack.ts';
import { EdgeImpulseSimulator } from '#simulators/edge-impulse/index.ts';
import { makeJpeg, makePng } from '#simulators/media/index.ts';
import { objectCreated, testConfig } from './harness.ts';

const KEY = 'ei_e2e_test_key_not_real';
const SECRET = 'relay-tests/edge-impulse';
const DEADLINE_MS = 60_000;
const FINAL: DeliveryStatus[] = ['UPLOADED', 'ALREADY_PRESENT', 'REJECTED', 'DEAD', 'UNCONFIRMED'];

function eiTransmit(url: string): DataTransmit {
  return {
    transmit_name: 'ei-training',
    transmit_type: 'edge-impulse',
    filter_stream: ['line-1:aoi-camera'],
    base_url: url,
    api_key_secret: SECRET,
    options: { category: 'training' },
    fields: {
      // The sidecar's verdict; without one, no label (vars.no_label is false): never inferred from the name.
      label: '{sidecar.verdict ?? vars.no_label}',
      category: '{sidecar.category}',
      metadata: { station: '{station}', shift: '{sidecar.shift}' },
      boundingBoxes: '{sidecar.boxes}',
    },
  };
}

let sim: EdgeImpulseSimulator;
let stack: LocalStack;

interface Uploaded {
  key: string;
  etag: string;
  versionId?: string;
}

async function upload(key: string, body: Buffer, sidecar?: Record<string, unknown>): Promise<Uploaded> {
  const { s3 } = stack.clients;
  if (sidecar) await putObject(s3, stack.buckets.ingest, `${key}.json`, Buffer.from(JSON.stringify(sidecar)));
  const put = await putObject(s3, stack.buckets.ingest, key, body);
  return { key, etag: put.etag, ...(put.versionId ? { versionId: put.versionId } : {}) };
}

const recordOf = async (obj: Uploaded): Promise<DeliveryRecord | undefined> =>
  (await recordsOf(stack.clients.ddb, stack.tableName, { bucket: stack.buckets.ingest, ...obj }))[0];

/** Polls until every object's record is in one of `statuses` (generous deadline, never the thing measured). */
async function waitAll(objs: Uploaded[], statuses: DeliveryStatus[]): Promise<DeliveryRecord[]> {
  const until = Date.now() + DEADLINE_MS;
  let last: Array<DeliveryRecord | undefined> = [];
  while (Date.now() < until) {
    last = await Promise.all(objs.map(recordOf));
    if (last.every((r) => r && statuses.includes(r.status))) return last as DeliveryRecord[];
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${statuses.join('/')}: ${JSON.stringify(last, null, 1)}`);
}

let forwarding = false;
/** The forwarder starts deferred (see `before`); every test but the first wants it running. */
function forwarderRunning(): void {
  if (!forwarding) stack.startForwarder('edge-impulse');
  forwarding = true;
}

const sampleNamed = (name: string) => sim.samples(1).filter((s) => s.originalFileName === name);
const name = (key: string) => key.slice(key.lastIndexOf('/') + 1);

before(async () => {
  sim = new EdgeImpulseSimulator({ seed: 11, apiKeys: { [KEY]: { projectId: 1 } } });
  const url = await sim.start();
  stack = await startLocalStack({
    config: testConfig(
      [eiTransmit(url)],
      { pause_probe_seconds: 2 },
      { key_pattern: 'line-1/{station}/{serial}_{taken_at}.{ext}', vars: { no_label: false } },
    ),
    secrets: { [SECRET]: KEY },
    pollEveryMs: 250,
    logLevel: 'error',
    // The first test fills the queue before the forwarder runs, so that its files share one batch.
    deferForwarders: ['edge-impulse'],
  });
});
after(async () => {
  await stack?.stop();
  await sim?.stop();
});

describe('Edge Impulse delivery, end to end', () => {
  it('one request for a batch: uploaded, already present (a duplicate) and rejected, each recorded', async () => {
    const seen = makeJpeg({ width: 32, height: 24, seed: 1 });
    // The duplicate's content is in the project already (uploaded earlier by another tool).
    sim.setApiKey('ei_other_tool_key', 1);
    const seed = new FormData();
    seed.append('data', new Blob([seen]), 'earlier.jpg');
    const res = await fetch(`${sim.url}/api/training/files`, {
      method: 'POST',
      headers: { 'x-api-key': 'ei_other_tool_key', 'x-label': 'ok' },
      body: seed,
    });
    assert.equal(res.status, 200);
    const [earlier] = sim.samples(1);

    const objs = await Promise.all([
      upload('line-1/aoi-top/SN-1001_20260105T081500Z.jpg', makeJpeg({ width: 32, height: 24, seed: 2 })),
      upload('line-1/aoi-top/SN-1002_20260105T081501Z.jpg', makePng({ width: 16, height: 16, seed: 3 })),
      upload('line-1/aoi-top/SN-1003_20260105T081502Z.jpg', seen),
      upload('line-1/aoi-top/SN-1004_20260105T081503Z.jpg', Buffer.from('not an image at all')),
    ]);
    await waitAll(objs, ['QUEUED']);
    const before = sim.requestsTo('ingestFiles').length;
    forwarderRunning();
    const [ok, png, dup, bad] = await waitAll(objs, FINAL);

    const requests = sim.requestsTo('ingestFiles').slice(before);
    assert.equal(requests.length, 1, 'the four files went in one request');
    assert.equal((requests[0]?.details.results as unknown[] | undefined)?.length, 4);

    assert.equal(ok?.status, 'UPLOADED');
    assert.equal(ok?.vendorRef, String(sampleNamed(name(objs[0]?.key ?? ''))[0]?.sampleId));
    assert.equal(png?.status, 'UPLOADED', 'a PNG under .jpg is a valid Edge Impulse sample');
    assert.equal(sampleNamed(name(objs[1]?.key ?? ''))[0]?.kind, 'png');
    assert.equal(dup?.status, 'ALREADY_PRESENT');
    assert.equal(dup?.notice?.code, 'DUPLICATE');
    assert.match(dup?.notice?.message ?? '', /^An item with this hash already exists/);
    assert.equal(dup?.vendorRef, String(earlier?.sampleId), 'the sample that holds the content');
    assert.equal(dup?.lastError, undefined, 'not a failure');
    assert.equal(bad?.status, 'REJECTED');
    assert.equal(bad?.lastError?.code, 'SAMPLE_REJECTED');
    assert.match(bad?.lastError?.message ?? '', /SN-1004_20260105T081503Z\.jpg" is not a valid image/);
    for (const r of [ok, png, dup, bad]) assert.equal(r?.attempts, 1);
  });

  it('labels (non-ASCII, spaces, /), no label, metadata and bounding boxes arrive as the config says', async () => {
    forwarderRunning();
    const boxes = [{ label: 'scratch', x: 4, y: 5, width: 10, height: 3, score: 0.97 }];
    const [labelled, unlabelled] = await Promise.all([
      upload('line-1/aoi-side/SN-2001_20260105T090000Z.jpg', makeJpeg({ width: 32, height: 24, seed: 21 }), {
        verdict: 'rayure / scratch ü',
        shift: 'Nacht 3',
        boxes,
      }),
      upload('line-1/aoi-side/SN-2002_20260105T090001Z.jpg', makeJpeg({ width: 32, height: 24, seed: 22 }), {
        category: 'testing',
      }),
    ]);
    await waitAll([labelled as Uploaded, unlabelled as Uploaded], FINAL);
    const a = sampleNamed('SN-2001_20260105T090000Z.jpg')[0];
    assert.equal(a?.label, 'rayure / scratch ü');
    assert.deepEqual(a?.metadata, { shift: 'Nacht 3', station: 'aoi-side' });
    assert.deepEqual(a?.boundingBoxes, [{ label: 'scratch', x: 4, y: 5, width: 10, height: 3 }]);
    assert.equal(a?.category, 'training');
    const b = sampleNamed('SN-2002_20260105T090001Z.jpg')[0];
    assert.equal(b?.label, undefined, 'no label, and none inferred from "SN-2002_…"');
    assert.deepEqual(b?.metadata, { station: 'aoi-side' });
    assert.equal(b?.category, 'testing');
  });

  it('an answer lost after the vendor stored the files: retried, stored once, recorded UPLOADED', async () => {
    forwarderRunning();
    sim.faults.enqueue({ route: 'ingestFiles', loseAnswer: true });
    const objs = await Promise.all([
      upload('line-1/aoi-top/SN-3001_20260105T100000Z.jpg', makeJpeg({ width: 32, height: 24, seed: 31 })),
      upload('line-1/aoi-top/SN-3002_20260105T100001Z.jpg', makeJpeg({ width: 32, height: 24, seed: 32 })),
    ]);
    const recs = await waitAll(objs, FINAL);
    // The files the lost request carried (the simulator noted its results before the answer was dropped).
    const lost = sim.requestsTo('ingestFiles').find((r) => r.outcome === 'fault-lost-answer');
    const lostIds = new Set(
      ((lost?.details.results ?? []) as Array<{ sampleId?: number }>).map((x) => String(x.sampleId)),
    );
    assert.ok(lostIds.size >= 1);
    for (const [i, r] of recs.entries()) {
      const stored = sampleNamed(name(objs[i]?.key ?? ''));
      assert.equal(stored.length, 1, 'stored once');
      assert.equal(r.status, 'UPLOADED');
      assert.equal(r.vendorRef, String(stored[0]?.sampleId));
      if (!lostIds.has(r.vendorRef ?? '')) continue; // sent in another request (the router's timing)
      assert.equal(r.ambiguousSends, 1);
      assert.equal(r.attempts, 2);
      assert.equal(r.notice?.code, 'DELIVERED_EARLIER');
      assert.ok(r.history.some((h) => h.status === 'RETRYING' && h.code === 'NO_ANSWER'));
    }
  });

  it('401 holds the destination (no attempt spent); a probe after pause_probe_seconds delivers', async () => {
    forwarderRunning();
    sim.faults.enqueue({
      route: 'ingestFiles',
      status: 401,
      body: { success: false, error: 'Invalid API key' },
    });
    const obj = await upload(
      'line-1/aoi-top/SN-4001_20260105T110000Z.jpg',
      makeJpeg({ width: 8, height: 8, seed: 41 }),
    );
    const [rec] = await waitAll([obj], ['UPLOADED']);
    const held = rec?.history.find((h) => h.status === 'HELD');
    assert.equal(held?.code, 'AUTH_FAILED');
    assert.equal(rec?.attempts, 1, 'the refused send was given back');
    assert.equal(sampleNamed(name(obj.key)).length, 1);
  });

  it('a 150 MB object is rejected before sending: its size decides, nothing is read or sent', async () => {
    forwarderRunning();
    // A bucket without notifications holds a small stand-in; the event says 150 MB, as S3 would for a real
    // one, and the relay takes the size from the event.
    const bucket = 'ei-e2e-no-events';
    await stack.clients.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const key = 'line-1/aoi-top/SN-5001_20260105T120000Z.mp4';
    const put = await putObject(stack.clients.s3, bucket, key, Buffer.from('small stand-in'));
    const requestsBefore = sim.requests.length;
    const event = objectCreated(stack.region, { bucket, key, size: 150_000_000, etag: put.etag });
    await stack.clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: stack.queues.ingest.url,
        MessageBody: JSON.stringify({ Records: [event] }),
      }),
    );
    const until = Date.now() + DEADLINE_MS;
    const read = async () =>
      (await recordsOf(stack.clients.ddb, stack.tableName, { bucket, key, etag: put.etag }))[0];
    let rec = await read();
    while (rec?.status !== 'REJECTED' && Date.now() < until) {
      await sleep(100);
      rec = await read();
    }
    assert.equal(rec?.status, 'REJECTED');
    assert.equal(rec?.size, 150_000_000);
    assert.equal(rec?.lastError?.code, 'FILE_TOO_LARGE');
    assert.match(rec?.lastError?.message ?? '', /150000000 bytes is over Edge Impulse's limit of 100 MB/);
    assert.deepEqual(
      rec?.history.map((h) => h.status),
      ['QUEUED', 'SENDING', 'REJECTED'],
    );
    assert.equal(sim.requests.length, requestsBefore, 'no request reached Edge Impulse for it');
  });
});
