/**
 * The plug-in against the InstaVid360 simulator over HTTP (manual clock: tasks move only when the test says),
 * with an in-memory context (testing.ts). What these check is the plug-in's own logic; the end-to-end tests run
 * the same code inside the relay on the emulators.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { deliveryKey, encodeDeliveryId } from '#domain/delivery.ts';
import { InstaVid360Simulator } from '#simulators/instavid360/index.ts';
import { makeJpeg, makePng } from '#simulators/media/index.ts';
import type { DeliveryJob, JsonObject, ObjectRef, PendingDelivery } from '../types.ts';
import { instavid360, referenceFor } from './index.ts';
import { type TestContext, testContext } from './testing.ts';

const TOKEN = 'sim-test-token-not-real';
const sim = new InstaVid360Simulator({
  tokens: { [TOKEN]: { user: 'relay-test' } },
  clock: 'manual',
  processingAfterMs: 100,
  completeAfterMs: 1_000,
  requestsPerMinute: Number.POSITIVE_INFINITY,
});
let base = '';
before(async () => {
  base = await sim.start();
});
after(() => sim.stop());

const BG = makeJpeg({ width: 64, height: 48, seed: 21 });
const OVERLAY = makePng({ width: 32, height: 24, seed: 22 });
const bgOptions = (extra: JsonObject = {}): JsonObject => ({
  task: 'bg-replace',
  background: { file: 'bg.jpg', data_base64: BG.toString('base64') },
  overlay: { file: 'logo.png', data_base64: OVERLAY.toString('base64') },
  shadow: true,
  callbacks: false,
  ...extra,
});

let t: TestContext;
const open: TestContext[] = [];
function context(options: JsonObject, token = TOKEN): TestContext {
  const c = testContext({ baseUrl: base, options, token });
  open.push(c);
  return c;
}
beforeEach(() => {
  sim.reset();
  t = context(bgOptions());
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.stop()));
});

let n = 0;
function job(
  c: TestContext,
  body = makeJpeg({ width: 48, height: 32, seed: 100 + n }),
  fields: JsonObject = {},
) {
  const key = `line-1/studio/SN-${++n}_20260105T081500Z.${body[0] === 0x89 ? 'png' : 'jpg'}`;
  const object: ObjectRef = {
    bucket: 'ingest',
    key,
    etag: `etag-${n}`,
    size: body.length,
    versionId: `v${n}`,
  };
  c.objects.set(`ingest/${key}`, body);
  const j: DeliveryJob = {
    deliveryId: encodeDeliveryId(deliveryKey(object, 'iv-test')),
    destination: 'iv-test',
    object,
    fields,
    attempt: 1,
    ambiguousSends: 0,
  };
  return j;
}
function pending(j: DeliveryJob, vendorRef: string, c: TestContext, extra: Partial<PendingDelivery> = {}) {
  const p: PendingDelivery = {
    deliveryId: j.deliveryId,
    destination: j.destination,
    status: 'PROCESSING',
    vendorRef,
    object: j.object,
    fields: j.fields,
    acceptedAt: new Date(c.clock.now).toISOString(),
    pollCount: 0,
    ...extra,
  };
  return p;
}
const poll = async (items: PendingDelivery[], c = t) => instavid360.poll!.run(items, c.ctx);
/** The documented failure envelope: `success: false`, the reasons in `data.messages`. */
const failure = (code: number, message: string, messages: string[]) => ({
  success: false,
  code,
  locale: 'en',
  message,
  data: { messages },
});

describe('deliver: upload, images once per content, task with the delivery id as reference', () => {
  it('bg-replace: PROCESSING with the task key; the task carries reference, images, shadow, meta', async () => {
    const j = job(t, undefined, { meta: { VIN: 'VIN123', Title: 'Front 3/4' } });
    const [out] = await instavid360.deliver([j], t.ctx);
    assert.equal(out?.kind, 'accepted');
    assert.ok(out?.kind === 'accepted' && out.status === 'PROCESSING' && out.vendorRef);
    const task = sim.getTask(out.vendorRef);
    assert.equal(task?.reference, j.deliveryId);
    assert.equal(task?.type, 'bgReplace');
    assert.deepEqual(task?.options, { shadow: true });
    assert.deepEqual(task?.meta, { VIN: 'VIN123', Title: 'Front 3/4' });
    assert.equal(sim.getUpload(task?.original ?? '')?.kind, 'original');
    assert.equal(sim.getUpload(task?.background ?? '')?.kind, 'background');
    assert.equal(sim.getUpload(task?.overlay ?? '')?.kind, 'overlay');
    assert.equal(sim.getUpload(task?.overlay ?? '')?.type, 'image/png');
    assert.deepEqual(t.checkpoints.get(j.deliveryId), {
      reference: j.deliveryId,
      original: task?.original ?? '',
      task: out.vendorRef,
    });
  });

  it('uploads the background and overlay once for many photos and calls (shared cache), originals each', async () => {
    const jobs = Array.from({ length: 12 }, () => job(t));
    const outs = [
      ...(await instavid360.deliver(jobs.slice(0, 7), t.ctx)),
      ...(await instavid360.deliver(jobs.slice(7), t.ctx)),
    ];
    assert.ok(outs.every((o) => o.kind === 'accepted'));
    const kinds = sim.listUploads().map((u) => u.kind);
    assert.equal(kinds.filter((k) => k === 'background').length, 1);
    assert.equal(kinds.filter((k) => k === 'overlay').length, 1);
    assert.equal(kinds.filter((k) => k === 'original').length, 12);
    assert.equal(sim.listTasks().length, 12);
  });

  it('uploads a cached background again when the vendor no longer knows its key, then creates the task', async () => {
    await instavid360.deliver([job(t)], t.ctx);
    // Another account's cache entry, or the vendor purged its images: the cached keys are unknown now.
    sim.reset();
    const [out] = await instavid360.deliver([job(t)], t.ctx);
    assert.equal(out?.kind, 'accepted', JSON.stringify(out));
    const kinds = sim.listUploads().map((u) => u.kind);
    assert.deepEqual(kinds.sort(), ['background', 'original', 'overlay']);
    const refused = sim.requestsTo('bgReplace').filter((r) => r.status === 422);
    assert.equal(refused.length, 1, 'one refused create, then one that worked');
  });

  it('LPA: original only, options {}, meta; a PNG is declared as PNG', async () => {
    const c = context({ task: 'lpa', callbacks: false });
    const j = job(c, makePng({ width: 40, height: 30, seed: 5 }));
    const [out] = await instavid360.deliver([j], c.ctx);
    assert.ok(out?.kind === 'accepted' && out.vendorRef);
    const task = sim.getTask(out.vendorRef);
    assert.equal(task?.type, 'lpa');
    assert.deepEqual(task?.options, {});
    assert.equal(sim.listUploads().length, 1);
    assert.equal(sim.getUpload(task?.original ?? '')?.declaredType, 'image/png');
  });

  it('gives the vendor a callback_url when callbacks are on', async () => {
    const c = testContext({
      baseUrl: base,
      options: bgOptions({ callbacks: true }),
      token: TOKEN,
      callbackBase: 'http://127.0.0.1:9',
    });
    open.push(c);
    const j = job(c);
    const [out] = await instavid360.deliver([j], c.ctx);
    assert.ok(out?.kind === 'accepted' && out.vendorRef);
    assert.equal(
      sim.getTask(out.vendorRef)?.callbackUrl,
      `http://127.0.0.1:9/callbacks/instavid360/${j.deliveryId}.test-signature`,
    );
  });

  it('resumes from its checkpoint: a known task is not created again; a known original is not uploaded again', async () => {
    const j = job(t);
    const [first] = await instavid360.deliver([j], t.ctx);
    assert.ok(first?.kind === 'accepted');
    const again = await instavid360.deliver(
      [{ ...j, attempt: 2, checkpoint: t.checkpoints.get(j.deliveryId) }],
      t.ctx,
    );
    assert.deepEqual(again[0], first);
    assert.equal(sim.listTasks().length, 1);

    // An attempt that uploaded the original and stopped before the task: the next one creates the task only.
    const k = job(t);
    const [up] = await instavid360.deliver([{ ...k }], t.ctx);
    assert.ok(up?.kind === 'accepted' && up.vendorRef);
    const original = String(t.checkpoints.get(k.deliveryId)?.original);
    const other = job(t);
    const originalsBefore = sim.listUploads().filter((u) => u.kind === 'original').length;
    const [resumed] = await instavid360.deliver(
      [{ ...other, attempt: 2, checkpoint: { reference: other.deliveryId, original } }],
      t.ctx,
    );
    assert.ok(resumed?.kind === 'accepted' && resumed.vendorRef);
    assert.equal(sim.listUploads().filter((u) => u.kind === 'original').length, originalsBefore);
    assert.equal(sim.getTask(resumed.vendorRef)?.original, original);
  });

  it('a retried create whose first answer was lost: the duplicate reference means the task exists', async () => {
    const j = job(t);
    const [first] = await instavid360.deliver([j], t.ctx);
    assert.ok(first?.kind === 'accepted' && first.vendorRef);
    // The answer never reached the relay: the record and the checkpoint have no task key.
    const cp = { ...t.checkpoints.get(j.deliveryId) };
    delete cp.task;
    const [retry] = await instavid360.deliver(
      [{ ...j, attempt: 2, ambiguousSends: 1, checkpoint: cp }],
      t.ctx,
    );
    assert.equal(retry?.kind, 'accepted');
    assert.ok(retry?.kind === 'accepted' && retry.status === 'PROCESSING' && retry.vendorRef === undefined);
    assert.equal(sim.listTasks().length, 1, 'no second task');

    const p = pending(j, '', t);
    await sim.settle();
    // The poller cannot ask without a key …
    assert.deepEqual((await poll([p])).get(j.deliveryId), { kind: 'unchanged' });
    // … a callback naming another task (or a forged body) is checked against the reference and ignored …
    const other = job(t);
    const [o] = await instavid360.deliver([other], t.ctx);
    assert.ok(o?.kind === 'accepted' && o.vendorRef);
    await sim.settle();
    assert.deepEqual(
      (await poll([{ ...p, callbackBody: { data: { task: o.vendorRef, status: 'complete' } } }])).get(
        j.deliveryId,
      ),
      {
        kind: 'unchanged',
      },
    );
    // … the callback of the real task gives its key, confirmed by the task's reference.
    const found = (
      await poll([{ ...p, callbackBody: sim.taskEnvelope(sim.getTask(first.vendorRef)!) as never }])
    ).get(j.deliveryId);
    assert.equal(found?.kind, 'status');
    assert.ok(
      found?.kind === 'status' && found.status === 'COMPLETED' && found.vendorRef === first.vendorRef,
    );
  });

  it('a task key never found fails at the deadline with TASK_KEY_UNKNOWN', async () => {
    const c = context(bgOptions({ task_deadline_seconds: 60 }));
    const j = job(c);
    const p = pending(j, '', c);
    c.clock.now += 61_000;
    const out = (await poll([p], c)).get(j.deliveryId);
    assert.ok(out?.kind === 'status' && out.status === 'FAILED' && out.error?.code === 'TASK_KEY_UNKNOWN');
  });
});

describe('deliver: vendor refusals', () => {
  it('monthly quota used up: hold QUOTA_EXHAUSTED, probe within quota_probe_seconds; the rest is not sent', async () => {
    const c = context(bgOptions({ quota_probe_seconds: 120 }));
    const s = new InstaVid360Simulator({
      tokens: { [TOKEN]: { user: 'q' } },
      quota: { bgReplace: 1 },
      clock: 'manual',
    });
    const url = await s.start();
    try {
      c.ctx.destination.baseUrl = url;
      const outs = await instavid360.deliver([job(c), job(c), job(c)], c.ctx);
      assert.equal(outs[0]?.kind, 'accepted');
      assert.equal(outs[1]?.kind, 'hold');
      assert.ok(
        outs[1]?.kind === 'hold' &&
          outs[1].error.code === 'QUOTA_EXHAUSTED' &&
          outs[1].probeAfterMs === 120_000,
      );
      assert.equal(outs[1]?.kind === 'hold' && outs[1].error.httpStatus, 429);
      assert.deepEqual(outs[2], outs[1], 'the third job waits with the destination');
      assert.equal(s.requestsTo('bgReplace').length, 2);
      assert.equal(s.requestsTo('upload').filter((r) => r.path.endsWith('/original')).length, 2);
    } finally {
      await s.stop();
    }
  });

  it('per-minute limit: retry with the vendor Retry-After', async () => {
    sim.faults.enqueue({
      route: 'upload',
      status: 429,
      headers: { 'retry-after': '7' },
      body: failure(429, 'Too Many Attempts.', ['slow down']),
    });
    const [out] = await instavid360.deliver([job(t)], t.ctx);
    assert.ok(out?.kind === 'retry' && out.error.code === 'RATE_LIMITED' && out.retryAfterMs === 7_000);
  });

  it('an unknown token: hold AUTH_FAILED', async () => {
    const c = context(bgOptions(), 'not-a-known-token');
    const [out] = await instavid360.deliver([job(c)], c.ctx);
    assert.ok(out?.kind === 'hold' && out.error.code === 'AUTH_FAILED' && out.error.httpStatus === 401);
  });

  it('422 on the task: REJECTED with the vendor reasons', async () => {
    const c = context(bgOptions());
    const j = job(c, undefined, { meta: { x: 1 } });
    sim.faults.enqueue({
      route: 'bgReplace',
      status: 422,
      body: failure(422, 'The given data was invalid.', ['The meta must be an array.']),
    });
    const [out] = await instavid360.deliver([j], c.ctx);
    assert.ok(out?.kind === 'rejected');
    assert.equal(out.error.code, 'VALIDATION_FAILED');
    assert.equal(out.error.httpStatus, 422);
    assert.match(out.error.message, /The meta must be an array\./);
  });

  it('a 409 on task creation whose reasons say the reference is taken: the task exists, as for the 422', async () => {
    sim.faults.enqueue({
      route: 'bgReplace',
      status: 409,
      body: failure(1, 'Conflict', ['The reference has already been taken.']),
    });
    const [out] = await instavid360.deliver([job(t)], t.ctx);
    assert.ok(out?.kind === 'accepted' && out.status === 'PROCESSING', JSON.stringify(out));
    assert.equal(out.vendorRef, undefined);
    assert.match(String(out.detail?.note), /the task exists/);
    // A conflict about something else stays the refusal it is.
    sim.faults.enqueue({ route: 'bgReplace', status: 409, body: failure(1, 'Conflict', ['Busy.']) });
    const [other] = await instavid360.deliver([job(t)], t.ctx);
    assert.ok(other?.kind === 'rejected' && other.error.httpStatus === 409, JSON.stringify(other));
  });

  it('a 3xx holds the destination (ENDPOINT_MOVED, naming Location); nothing is sent there', async () => {
    for (const route of ['upload', 'bgReplace']) {
      sim.reset();
      sim.faults.enqueue({ route, status: 302, headers: { location: 'https://api.example/moved' } });
      const [out] = await instavid360.deliver([job(t)], t.ctx);
      assert.ok(out?.kind === 'hold' && out.error.code === 'ENDPOINT_MOVED', JSON.stringify(out));
      assert.match(out.error.message, /https:\/\/api\.example\/moved/);
    }
  });

  it('408: an upload is retried (an orphan image at worst); a task creation is an ambiguous retry', async () => {
    sim.faults.enqueue({ route: 'upload', status: 408 });
    const [up] = await instavid360.deliver([job(t)], t.ctx);
    assert.ok(
      up?.kind === 'retry' && up.error.code === 'REQUEST_TIMEOUT' && !up.ambiguous,
      JSON.stringify(up),
    );
    sim.faults.enqueue({ route: 'bgReplace', status: 408 });
    const [task] = await instavid360.deliver([job(t)], t.ctx);
    assert.ok(task?.kind === 'retry' && task.ambiguous === true, JSON.stringify(task));
  });

  it('a create that got no answer is an ambiguous retry', async () => {
    sim.faults.enqueue({ route: 'bgReplace', reset: true });
    const [out] = await instavid360.deliver([job(t)], t.ctx);
    assert.ok(out?.kind === 'retry' && out.ambiguous === true, JSON.stringify(out));
  });

  it('a 2xx with success: false on the upload: REJECTED with the vendor reasons, nothing created', async () => {
    sim.faults.enqueue({
      route: 'upload',
      status: 200,
      body: failure(1, 'Upload failed', ['Corrupt image.']),
    });
    const [out] = await instavid360.deliver([job(t)], t.ctx);
    assert.ok(out?.kind === 'rejected', JSON.stringify(out));
    assert.equal(out.error.code, 'UPLOAD_REFUSED');
    assert.match(out.error.message, /Corrupt image\./);
    assert.equal(sim.requestsTo('bgReplace').length, 0);
  });

  it('a 2xx with success: false on the task: REJECTED with the reasons; one naming the quota holds', async () => {
    const refused = (messages: string[]) => ({
      route: 'bgReplace',
      status: 200,
      body: failure(1, 'Failed', messages),
    });
    sim.faults.enqueue(refused(['The original could not be read.']));
    const [out] = await instavid360.deliver([job(t)], t.ctx);
    assert.ok(out?.kind === 'rejected', JSON.stringify(out));
    assert.equal(out.error.code, 'VENDOR_REFUSED');
    assert.match(out.error.message, /The original could not be read\./);
    sim.faults.enqueue(refused(['Monthly quota exhausted for bg-replace.']));
    const [held] = await instavid360.deliver([job(t)], t.ctx);
    assert.ok(held?.kind === 'hold' && held.error.code === 'QUOTA_EXHAUSTED', JSON.stringify(held));
  });

  it('each call goes to its documented path: upload /api/v1, tasks and status /api; api_path sets them all', async () => {
    const j = job(t);
    const [out] = await instavid360.deliver([j], t.ctx);
    assert.ok(out?.kind === 'accepted' && out.vendorRef);
    const task = out.vendorRef;
    await poll([pending(j, task, t)]);
    assert.deepEqual(
      sim.requests.map((r) => r.path.replace(task, '{task}')),
      [
        '/api/v1/image/upload/original',
        '/api/v1/image/upload/background',
        '/api/v1/image/upload/overlay',
        '/api/image/task/bg-replace',
        '/api/image/task/{task}',
      ],
    );
    sim.reset();
    const c = context(bgOptions({ api_path: '/api' }));
    const [again] = await instavid360.deliver([job(c)], c.ctx);
    assert.equal(again?.kind, 'accepted');
    assert.ok(sim.requests.length === 4 && sim.requests.every((r) => r.path.startsWith('/api/image/')));
  });

  it('a 404 or 405 on the upload or the task creation holds the destination (base_url or api_path)', async () => {
    sim.faults.enqueue({ route: 'upload', status: 404, body: 'Not Found' });
    const [up] = await instavid360.deliver([job(t)], t.ctx);
    assert.ok(up?.kind === 'hold' && up.error.code === 'ENDPOINT_NOT_FOUND', JSON.stringify(up));
    sim.faults.enqueue({ route: 'bgReplace', status: 405, body: 'Method Not Allowed' });
    const [task] = await instavid360.deliver([job(t)], t.ctx);
    assert.ok(task?.kind === 'hold' && task.error.code === 'ENDPOINT_NOT_FOUND', JSON.stringify(task));
  });

  it('a background the vendor refuses holds the destination', async () => {
    const c = context(
      bgOptions({
        background: { file: 'bg.gif', data_base64: Buffer.from('GIF89a-not-ok').toString('base64') },
      }),
    );
    const [out] = await instavid360.deliver([job(c)], c.ctx);
    assert.ok(out?.kind === 'hold' && out.error.code === 'BACKGROUND_UNAVAILABLE', JSON.stringify(out));
    assert.equal(sim.requests.length, 1, 'only the original was uploaded');
  });
});

describe('poll: status, results home, deadline', () => {
  it("a recorded task key naming another delivery's task: FAILED TASK_REFERENCE_MISMATCH, nothing brought home", async () => {
    const mine = job(t);
    const theirs = job(t);
    const [out] = await instavid360.deliver([theirs], t.ctx);
    assert.ok(out?.kind === 'accepted' && out.vendorRef);
    await sim.advance(1_000);
    const got = (await poll([pending(mine, out.vendorRef, t)])).get(mine.deliveryId);
    assert.ok(got?.kind === 'status' && got.status === 'FAILED', JSON.stringify(got));
    assert.equal(got.error?.code, 'TASK_REFERENCE_MISMATCH');
    assert.equal(
      got.error?.message,
      `task ${out.vendorRef} belongs to reference ${theirs.deliveryId}, not this delivery (${mine.deliveryId})`,
    );
    assert.equal(t.results.size, 0, "the other delivery's result is not written under this one's key");
    assert.equal(sim.requestsTo('result').length, 0);
  });

  it('complete: the processed image lands in the results bucket, byte for byte, with its links; once', async () => {
    const j = job(t, undefined, { meta: { VIN: 'V1' } });
    const [out] = await instavid360.deliver([j], t.ctx);
    assert.ok(out?.kind === 'accepted' && out.vendorRef);
    const task = out.vendorRef;
    const p = pending(j, task, t);
    const before = (await poll([p])).get(j.deliveryId);
    assert.deepEqual(before, {
      kind: 'status',
      status: 'PROCESSING',
      detail: { task, reference: j.deliveryId, vendorStatus: 'new' },
    });
    await sim.advance(1_000);
    const done = (await poll([p])).get(j.deliveryId);
    assert.ok(done?.kind === 'status' && done.status === 'COMPLETED', JSON.stringify(done));
    const key = `results/iv-test/${j.object.key.replace(/\.jpg$/, '')}.jpg`;
    assert.deepEqual(done.detail, {
      task,
      reference: j.deliveryId,
      result: `s3://results-bucket/${key}`,
      resultBucket: 'results-bucket',
      resultKey: key,
    });
    const stored = t.results.get(key);
    assert.deepEqual(stored?.body, sim.getTask(task)?.result?.bytes);
    assert.equal(stored?.contentType, 'image/jpeg');
    assert.deepEqual(stored?.metadata, {
      'source-bucket': 'ingest',
      'source-key': encodeURIComponent(j.object.key),
      'source-version-id': j.object.versionId,
      'source-etag': j.object.etag,
      'instavid360-task': task,
      'instavid360-reference': j.deliveryId,
      'relay-destination': 'iv-test',
      'relay-delivery': j.deliveryId,
    });
    // The same check again before COMPLETED is on the record (a duplicated callback): no second write.
    assert.deepEqual((await poll([p])).get(j.deliveryId), { kind: 'unchanged' });
    assert.deepEqual(t.resultWrites, [key]);
  });

  it('two checks at once (a callback and the poller): one brings the result home, the other leaves it', async () => {
    const j = job(t);
    const [out] = await instavid360.deliver([j], t.ctx);
    assert.ok(out?.kind === 'accepted' && out.vendorRef);
    await sim.settle();
    const p = pending(j, out.vendorRef, t);
    const [a, b] = await Promise.all([poll([p]), poll([{ ...p, callbackBody: null }])]);
    const kinds = [a.get(j.deliveryId), b.get(j.deliveryId)].map((o) =>
      o?.kind === 'status' ? o.status : o?.kind,
    );
    assert.deepEqual(kinds.sort(), ['COMPLETED', 'unchanged']);
    assert.equal(t.resultWrites.length, 1);
  });

  it('a download that fails gives the claim back: the next check brings the result home', async () => {
    const j = job(t);
    const [out] = await instavid360.deliver([j], t.ctx);
    assert.ok(out?.kind === 'accepted' && out.vendorRef);
    await sim.settle();
    const p = pending(j, out.vendorRef, t);
    sim.faults.enqueue({ route: 'result', status: 503 });
    const failed = (await poll([p])).get(j.deliveryId);
    assert.ok(
      failed?.kind === 'error' && failed.error.code === 'RESULT_DOWNLOAD_FAILED',
      JSON.stringify(failed),
    );
    const done = (await poll([p])).get(j.deliveryId);
    assert.ok(done?.kind === 'status' && done.status === 'COMPLETED');
    assert.equal(t.resultWrites.length, 1);
  });

  it("an older version's task finishing after a newer one's: its result is not written over the newer result", async () => {
    const older = job(t);
    const newer: DeliveryJob = {
      ...older,
      deliveryId: `${older.deliveryId}-v2`,
      object: { ...older.object, versionId: `${older.object.versionId}-2`, etag: 'etag-newer' },
    };
    // (The in-memory objects are per key: both versions send the same bytes here, the tasks are distinct.)
    const [a, b] = await instavid360.deliver([older, newer], t.ctx);
    assert.ok(a?.kind === 'accepted' && a.vendorRef && b?.kind === 'accepted' && b.vendorRef);
    await sim.settle();
    // The newer upload is now the key's current version; its result lands first.
    t.current.set(`ingest/${older.object.key}`, {
      versionId: newer.object.versionId ?? '',
      etag: 'etag-newer',
    });
    const first = (await poll([pending(newer, b.vendorRef, t)])).get(newer.deliveryId);
    assert.ok(first?.kind === 'status' && first.status === 'COMPLETED' && !first.notice);
    const key = String(first.detail?.resultKey);
    const written = t.results.get(key)?.body;
    assert.deepEqual(written, sim.getTask(b.vendorRef)?.result?.bytes);
    // The older version's check comes late: its task is done, but its result would replace the newer one.
    const late = (await poll([pending(older, a.vendorRef, t)])).get(older.deliveryId);
    assert.ok(late?.kind === 'status' && late.status === 'COMPLETED', JSON.stringify(late));
    assert.equal(late.notice?.code, 'OBJECT_SUPERSEDED');
    assert.match(late.notice?.message ?? '', new RegExp(`now version ${newer.object.versionId}`));
    assert.deepEqual(late.detail, {
      task: a.vendorRef,
      reference: older.deliveryId,
      resultNotWritten: key.replace(/^results\//, ''),
    });
    assert.deepEqual(t.resultWrites, [key]);
    assert.deepEqual(t.results.get(key)?.body, written);
  });

  it('a result URL that redirects (a CDN) is followed, a few times at most', async () => {
    const j = job(t);
    const [out] = await instavid360.deliver([j], t.ctx);
    assert.ok(out?.kind === 'accepted' && out.vendorRef);
    await sim.settle();
    // The result URL the vendor hands out, as its status call answers it.
    const status = await fetch(`${base}/api/image/task/${out.vendorRef}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    const url = ((await status.json()) as { data: { result: { url: string } } }).data.result.url;
    const p = pending(j, out.vendorRef, t);
    sim.faults.enqueue({ route: 'result', status: 302, headers: { location: url }, times: 2 });
    const done = (await poll([p])).get(j.deliveryId);
    assert.ok(done?.kind === 'status' && done.status === 'COMPLETED', JSON.stringify(done));
    assert.deepEqual(
      t.results.get(String(done.detail?.resultKey))?.body,
      sim.getTask(out.vendorRef)?.result?.bytes,
    );
    assert.equal(sim.requestsTo('result').length, 3, 'two redirects, then the image');

    const k = job(t);
    const [again] = await instavid360.deliver([k], t.ctx);
    assert.ok(again?.kind === 'accepted' && again.vendorRef);
    await sim.settle();
    sim.faults.enqueue({ route: 'result', status: 302, headers: { location: url }, times: 10 });
    const loop = (await poll([pending(k, again.vendorRef, t)])).get(k.deliveryId);
    assert.ok(loop?.kind === 'error' && loop.error.code === 'RESULT_DOWNLOAD_FAILED', JSON.stringify(loop));
    assert.match(loop.error.message, /redirected more than 3 times/);
    assert.equal(t.resultWrites.length, 1, 'nothing written for the looping one');
  });

  it('a PNG original gives a PNG result under result_key (rendered by the router)', async () => {
    const j = job(t, makePng({ width: 40, height: 30 }), { result_key: 'studio/VIN9/front.png' });
    const [out] = await instavid360.deliver([j], t.ctx);
    assert.ok(out?.kind === 'accepted' && out.vendorRef);
    await sim.settle();
    const done = (await poll([pending(j, out.vendorRef, t)])).get(j.deliveryId);
    assert.ok(done?.kind === 'status' && done.status === 'COMPLETED');
    assert.equal(done.detail?.resultKey, 'results/studio/VIN9/front.png');
    assert.equal(t.results.get('results/studio/VIN9/front.png')?.contentType, 'image/png');
  });

  it('failed: FAILED with the vendor reasons', async () => {
    const j = job(t, undefined, { meta: { simulate_failure: 'The subject touches the frame.' } });
    const [out] = await instavid360.deliver([j], t.ctx);
    assert.ok(out?.kind === 'accepted' && out.vendorRef);
    await sim.settle();
    const done = (await poll([pending(j, out.vendorRef, t)])).get(j.deliveryId);
    assert.ok(done?.kind === 'status' && done.status === 'FAILED');
    assert.equal(done.error?.code, 'TASK_FAILED');
    assert.match(done.error?.message ?? '', /The subject touches the frame\./);
    assert.equal(t.resultWrites.length, 0);
  });

  it('unknown status strings are not final; the aliases of §4.2 are', async () => {
    const j = job(t);
    const [out] = await instavid360.deliver([j], t.ctx);
    assert.ok(out?.kind === 'accepted' && out.vendorRef);
    const p = pending(j, out.vendorRef, t);
    const envelopeWith = (status: string, result: unknown = null) => ({
      success: true,
      code: 0,
      locale: 'en',
      message: 'OK',
      data: { reference: j.deliveryId, status, task: out.vendorRef, result },
    });
    sim.faults.enqueue({ route: 'taskStatus', status: 200, body: envelopeWith('queued-for-gpu') });
    const pendingAnswer = (await poll([p])).get(j.deliveryId);
    assert.ok(pendingAnswer?.kind === 'status' && pendingAnswer.status === 'PROCESSING');
    assert.equal(pendingAnswer.detail?.vendorStatus, 'queued-for-gpu');
    sim.faults.enqueue({ route: 'taskStatus', status: 200, body: envelopeWith('error') });
    const failed = (await poll([p])).get(j.deliveryId);
    assert.ok(failed?.kind === 'status' && failed.status === 'FAILED');
    await sim.settle();
    const real = sim.taskEnvelope(sim.getTask(out.vendorRef)!) as { data: { result: unknown } };
    sim.faults.enqueue({ route: 'taskStatus', status: 200, body: envelopeWith('Done', real.data.result) });
    const done = (await poll([p])).get(j.deliveryId);
    assert.ok(done?.kind === 'status' && done.status === 'COMPLETED', JSON.stringify(done));
  });

  it('a task that never finishes fails at its deadline (injected clock), also when its checks keep failing', async () => {
    const c = context(bgOptions({ task_deadline_seconds: 600 }));
    const j = job(c);
    const [out] = await instavid360.deliver([j], c.ctx);
    assert.ok(out?.kind === 'accepted' && out.vendorRef);
    const p = pending(j, out.vendorRef, c);
    const check = async (fault?: Parameters<typeof sim.faults.enqueue>[0]) => {
      if (fault) sim.faults.enqueue(fault);
      return (await poll([p], c)).get(j.deliveryId);
    };
    c.clock.now += 599_000;
    assert.equal((await check())?.kind, 'status');
    const early = await check({ route: 'taskStatus', status: 503, body: 'busy' });
    assert.equal(early?.kind, 'error', 'before the deadline a failed check leaves the task pending');
    c.clock.now += 2_000;
    const late = await check();
    assert.ok(
      late?.kind === 'status' && late.status === 'FAILED' && late.error?.code === 'TASK_TIMEOUT',
      JSON.stringify(late),
    );
    const failedChecks = [
      [{ route: 'taskStatus', status: 503, body: 'busy' }, /VENDOR_UNAVAILABLE: InstaVid360 answered 503/],
      [{ route: 'taskStatus', status: 400, body: 'Bad Request' }, /VENDOR_REJECTED/],
      [{ route: 'taskStatus', status: 200, body: { success: true, code: 0 } }, /BAD_VENDOR_RESPONSE/],
      [{ route: 'taskStatus', reset: true }, /NETWORK_ERROR/],
    ] as const;
    for (const [fault, why] of failedChecks) {
      const failed = await check(fault);
      assert.ok(
        failed?.kind === 'status' && failed.status === 'FAILED' && failed.error?.code === 'TASK_TIMEOUT',
        JSON.stringify(failed),
      );
      assert.match(failed.error?.message ?? '', why);
      assert.match(failed.error?.message ?? '', /the last check failed/);
    }
  });

  it('with callbacks on, the poller leaves a young task to its callback (no request); a callback asks at once', async () => {
    const c = context(bgOptions({ callbacks: true, callback_grace_seconds: 30 }));
    const j = job(c);
    const [out] = await instavid360.deliver([j], c.ctx);
    assert.ok(out?.kind === 'accepted' && out.vendorRef);
    const p = pending(j, out.vendorRef, c);
    const asked = () => sim.requestsTo('taskStatus').length;
    assert.deepEqual((await poll([p], c)).get(j.deliveryId), { kind: 'unchanged' });
    assert.equal(asked(), 0);
    await poll([{ ...p, callbackBody: null }], c);
    assert.equal(asked(), 1, 'a callback (even with a body that is not JSON) re-checks');
    c.clock.now += 31_000;
    await poll([p], c);
    assert.equal(asked(), 2, 'past the grace, the poller asks');
  });

  it("a body that says complete while the task is processing changes nothing: the vendor's answer counts", async () => {
    const c = context(bgOptions({ callbacks: true }));
    const j = job(c);
    const [out] = await instavid360.deliver([j], c.ctx);
    assert.ok(out?.kind === 'accepted' && out.vendorRef);
    await sim.advance(200); // processing
    const lie = {
      success: true,
      code: 0,
      message: 'OK',
      data: { task: out.vendorRef, status: 'complete', result: { url: 'http://127.0.0.1:9/evil.jpg' } },
    };
    const res = (await poll([{ ...pending(j, out.vendorRef, c), callbackBody: lie }], c)).get(j.deliveryId);
    assert.ok(
      res?.kind === 'status' && res.status === 'PROCESSING' && res.detail?.vendorStatus === 'processing',
    );
    assert.equal(c.resultWrites.length, 0);
  });

  it('an unknown task key: FAILED TASK_NOT_FOUND; a 401: hold', async () => {
    const j = job(t);
    const nf = (await poll([pending(j, 'NoSuchTask1', t)])).get(j.deliveryId);
    assert.ok(nf?.kind === 'status' && nf.status === 'FAILED' && nf.error?.code === 'TASK_NOT_FOUND');
    const c = context(bgOptions(), 'revoked-token');
    const held = (await poll([pending(j, 'AnyTask1', c)], c)).get(j.deliveryId);
    assert.ok(held?.kind === 'hold' && held.error.code === 'AUTH_FAILED');
  });

  it('the reference is the delivery id, or its digest when longer than the vendor takes', () => {
    assert.equal(referenceFor('abc'), 'abc');
    const long = 'x'.repeat(400);
    assert.match(referenceFor(long), /^relay-[A-Za-z0-9_-]{43}$/);
    assert.equal(referenceFor(long), referenceFor(long));
  });
});
