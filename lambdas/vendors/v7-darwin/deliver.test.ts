/**
 * The V7 plug-in against the V7 Darwin simulator over HTTP, through the core's own VendorContext: the four
 * steps with the exact requests of the contract (§2.1), a failure at each step resuming at that step, External
 * Storage reading nothing, and each V7 answer's outcome. One `attempt` is one delivery attempt; the next one
 * gets the checkpoint the last saved, as the forwarder gives it.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { RateLimitTimeout } from '#domain/vendor-context.ts';
import { makeJpeg, makeMp4 } from '#simulators/media/index.ts';
import type { DeliveryOutcome } from '../types.ts';
import { V7_ASSUMPTIONS } from './assumptions.ts';
import { type PluginHarness, pluginHarness, sha256 } from './testing.ts';

const jpeg = (seed: number) => makeJpeg({ width: 64, height: 48, seed });
const kinds = (outs: DeliveryOutcome[]) => outs.map((o) => o.kind);
const codeOf = (o: DeliveryOutcome | undefined) =>
  o && o.kind !== 'accepted' ? o.error.code : o?.kind === 'accepted' ? o.status : undefined;
const statsOf = (h: PluginHarness, name: string) => {
  const s = h.sim.stats().items.find((i) => i.name === name);
  assert.ok(s, `the simulator saw item ${name}`);
  return s;
};

/** The item names of each register_upload call, in order. */
const registeredNames = (h: PluginHarness) =>
  h.sent
    .filter((r) => r.url.pathname.endsWith('/register_upload'))
    .map((r) => JSON.parse(r.text ?? '{}').items.map((i: { name: string }) => i.name));

describe('V7 standard upload: register → sign → PUT → confirm', () => {
  it('sends the exact requests of the contract, one register for the batch', async (t) => {
    const h = await pluginHarness(t);
    const files = [jpeg(1), jpeg(2), makeMp4({ codec: 'avc1', width: 320, height: 240 })];
    const jobs = [
      h.job('line-1/aoi-top/SN-1_a.jpg', files[0] as Buffer, { path: 'line-1/aoi-top', tags: ['aoi-top'] }),
      h.job('line-1/aoi-top/SN-2_a.jpg', files[1] as Buffer, { path: '/line-1//aoi-top/' }),
      h.job('line-1/video/SN-1.mp4', files[2] as Buffer, { name: 'SN-1 inspection', path: '/line-1/video' }),
    ];
    const outs = await h.attempt(jobs, {
      team_slug: 'acme',
      dataset_slug: 'line-1',
      video: { fps: 2, as_frames: true },
    });
    assert.deepEqual(kinds(outs), ['accepted', 'accepted', 'accepted']);

    // 1. One register_upload for the three, with darwin-py's payload shape.
    const [register, ...rest] = h.sent;
    assert.equal(register?.method, 'POST');
    assert.equal(register?.url.pathname, '/api/v2/teams/acme/items/register_upload');
    assert.equal(register?.headers.authorization, 'ApiKey test-v7-key-not-a-secret');
    assert.equal(register?.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(register?.text ?? ''), {
      items: [
        {
          name: 'SN-1_a.jpg',
          path: '/line-1/aoi-top',
          slots: [{ file_name: 'SN-1_a.jpg', slot_name: '0', tags: ['aoi-top'] }],
        },
        { name: 'SN-2_a.jpg', path: '/line-1/aoi-top', slots: [{ file_name: 'SN-2_a.jpg', slot_name: '0' }] },
        {
          name: 'SN-1 inspection',
          path: '/line-1/video',
          slots: [{ file_name: 'SN-1.mp4', slot_name: '0', fps: 2, as_frames: true }],
        },
      ],
      dataset_slug: 'line-1',
      options: { handle_as_slices: false },
    });
    // 2–4. Per item: GET sign, raw PUT to the presigned URL, POST confirm {}.
    assert.equal(rest.length, 9);
    const items = h.sim.items('acme', 'line-1');
    for (const [i, item] of items.entries()) {
      const uploadId = item.slots[0]?.upload_id ?? '';
      const mine = rest.filter((r) => r.url.pathname.includes(uploadId) || r.method === 'PUT');
      const sign = mine.find((r) => r.url.pathname === `/api/v2/teams/acme/items/uploads/${uploadId}/sign`);
      assert.equal(sign?.method, 'GET');
      assert.equal(sign?.headers.authorization, 'ApiKey test-v7-key-not-a-secret');
      const confirm = mine.find((r) => r.url.pathname.endsWith(`/uploads/${uploadId}/confirm`));
      assert.equal(confirm?.method, 'POST');
      assert.equal(confirm?.text, '{}');
      const out = outs[i];
      assert.deepEqual(out, {
        kind: 'accepted',
        status: 'UPLOADED',
        vendorRef: item.id,
        detail: {
          item_id: item.id,
          upload_id: uploadId,
          dataset: 'line-1',
          path: item.path,
          name: item.name,
        },
      });
      assert.equal(item.slots[0]?.size, files[i]?.length);
      assert.equal(item.slots[0]?.sha256, sha256(files[i] as Buffer));
      assert.equal(item.slots[0]?.status, 'complete');
    }
    const puts = h.sent.filter((r) => r.method === 'PUT');
    assert.equal(puts.length, 3);
    for (const put of puts) {
      assert.match(put.url.pathname, /^\/s3-upload\//);
      assert.equal(put.headers.authorization, undefined, 'no Authorization on the presigned PUT');
      assert.equal(put.headers['content-type'], undefined, 'no Content-Type, as darwin-py');
      assert.ok(Number(put.headers['content-length']) > 0);
    }
    assert.deepEqual(items[0]?.slots[0]?.tags, ['aoi-top']);
    assert.equal(items[2]?.slots[0]?.type, 'video');
    assert.equal(items[2]?.slots[0]?.fps, 2);
    assert.equal(items[2]?.slots[0]?.as_frames, true);
    assert.equal(items[0]?.slots[0]?.fps, undefined, 'video options only on videos');
    // Checkpointed after each step, last `confirmed`.
    assert.equal(h.checkpoints.get(jobs[0]?.deliveryId ?? '')?.step, 'confirmed');
  });

  it(`registers at most ${V7_ASSUMPTIONS.maxItemsPerRegister} items per call`, async (t) => {
    const h = await pluginHarness(t, {
      options: {
        team_slug: 'acme',
        dataset_slug: 'line-1',
        external_storage: { storage_slug: 'acme-bucket' },
      },
    });
    const jobs = Array.from({ length: 501 }, (_, i) => h.job(`cams/c${i}.jpg`, Buffer.from('x')));
    const outs = await h.attempt(jobs);
    assert.equal(outs.filter((o) => o.kind === 'accepted').length, 501);
    const calls = h.sent.map((r) => JSON.parse(r.text ?? '{}').items.length);
    assert.deepEqual(calls, [500, 1]);
  });
});

describe('V7: a failure at a step resumes at that step', () => {
  const exhaust = V7_ASSUMPTIONS.maxApiTriesPerStep;

  /** Every try of the first attempt fails at `route`; answers the item's counts after the second attempt. */
  async function failThenResume(t: TestContext, route: string, status: number, savedStep: string) {
    const h = await pluginHarness(t);
    const file = jpeg(status);
    const job = h.job(`line-1/${route}.jpg`, file);
    h.sim.faults.enqueue({ route, status, times: exhaust });
    const first = await h.attempt([job]);
    assert.equal(first[0]?.kind, 'retry');
    assert.equal(h.checkpoints.get(job.deliveryId)?.step, savedStep);
    assert.equal(codeOf((await h.attempt([job]))[0]), 'UPLOADED');
    return { s: statsOf(h, `${route}.jpg`), file };
  }

  it('sign fails every try of an attempt: the next attempt signs again, never registers again', async (t) => {
    const { s, file } = await failThenResume(t, 'signUpload', 503, 'registered');
    assert.deepEqual(
      [s.registerCalls, s.signRequests, s.putRequests, s.confirmRequests, s.bytesPut],
      [1, exhaust + 1, 1, 1, file.length],
    );
  });

  it('a redirect on register holds the destination (ENDPOINT_MOVED), not a REJECTED delivery', async (t) => {
    const h = await pluginHarness(t);
    const job = h.job('line-1/moved.jpg', jpeg(6));
    h.sim.faults.enqueue({
      route: 'registerUpload',
      status: 308,
      headers: { location: 'https://x.example/' },
    });
    const [out] = await h.attempt([job]);
    assert.equal(out?.kind === 'hold' && out.error.code, 'ENDPOINT_MOVED');
    assert.match(out?.kind === 'hold' ? out.error.message : '', /x\.example/);
  });

  it('a 503 on sign is tried again in the same attempt', async (t) => {
    const h = await pluginHarness(t);
    const job = h.job('line-1/SN-4.jpg', jpeg(4));
    h.sim.faults.enqueue({ route: 'signUpload', status: 503, times: 1 });
    assert.equal(codeOf((await h.attempt([job]))[0]), 'UPLOADED');
    assert.equal(statsOf(h, 'SN-4.jpg').signRequests, 2);
  });

  it('PUT fails every try: re-sent, bounded; the next attempt PUTs again and confirms once', async (t) => {
    const h = await pluginHarness(t);
    const file = jpeg(5);
    const job = h.job('line-1/SN-5.jpg', file);
    h.sim.injectS3SlowDown(V7_ASSUMPTIONS.maxPutsPerAttempt);
    const first = await h.attempt([job]);
    assert.equal(first[0]?.kind, 'retry');
    assert.equal(first[0]?.kind === 'retry' && first[0].error.vendorCode, 'SlowDown');
    assert.equal(h.checkpoints.get(job.deliveryId)?.step, 'registered');
    assert.equal(codeOf((await h.attempt([job]))[0]), 'UPLOADED');
    const s = statsOf(h, 'SN-5.jpg');
    assert.equal(s.registerCalls, 1);
    assert.equal(s.putRequests, V7_ASSUMPTIONS.maxPutsPerAttempt + 1);
    assert.equal(s.confirmRequests, 1);
    assert.equal(s.slots[0]?.uploads, 1, 'one PUT stored');
  });

  it('an expired signed URL (403) is signed again and the bytes re-sent', async (t) => {
    const h = await pluginHarness(t);
    const job = h.job('line-1/SN-6.jpg', jpeg(6));
    h.sim.injectS3Error(403, 'AccessDenied', 'Request has expired');
    assert.equal(codeOf((await h.attempt([job]))[0]), 'UPLOADED');
    const s = statsOf(h, 'SN-6.jpg');
    assert.deepEqual([s.signRequests, s.putRequests, s.confirmRequests], [2, 2, 1]);
  });

  it('a PUT whose answer is lost is confirmed, not re-sent', async (t) => {
    const h = await pluginHarness(t);
    const file = jpeg(7);
    const job = h.job('line-1/SN-7.jpg', file);
    h.sim.loseAnswers('s3Put');
    assert.equal(codeOf((await h.attempt([job]))[0]), 'UPLOADED');
    const s = statsOf(h, 'SN-7.jpg');
    assert.deepEqual([s.registerCalls, s.putRequests, s.bytesPut, s.confirmRequests], [1, 1, file.length, 1]);
  });

  it('a PUT that died on the way is sent again (confirm first finds nothing)', async (t) => {
    const h = await pluginHarness(t);
    const file = Buffer.concat([jpeg(8), Buffer.alloc(200_000, 7)]);
    const job = h.job('line-1/SN-8.jpg', file);
    h.sim.faults.enqueue({ route: 's3Put', resetAfterBytes: 50_000 });
    assert.equal(codeOf((await h.attempt([job]))[0]), 'UPLOADED');
    const s = statsOf(h, 'SN-8.jpg');
    assert.equal(s.putRequests, 2);
    assert.equal(s.slots[0]?.uploads, 1);
    assert.equal(h.sim.items('acme', 'line-1')[0]?.slots[0]?.sha256, sha256(file));
  });

  it('after a PUT that got no answer, any 4xx at confirm (not only UPLOAD_NOT_RECEIVED) signs and PUTs again', async (t) => {
    const h = await pluginHarness(t);
    const file = jpeg(9);
    const job = h.job('line-1/SN-9.jpg', file);
    h.sim.faults.enqueue(
      { route: 's3Put', resetAfterBytes: 0 },
      {
        route: 'confirmUpload',
        status: 400,
        body: { errors: { code: 'SOMETHING_NEW', message: 'no file' } },
      },
    );
    assert.equal(codeOf((await h.attempt([job]))[0]), 'UPLOADED');
    const s = statsOf(h, 'SN-9.jpg');
    assert.deepEqual([s.signRequests, s.putRequests, s.confirmRequests], [2, 2, 2]);
    assert.equal(h.sim.items('acme', 'line-1')[0]?.slots[0]?.sha256, sha256(file));
  });

  it('that way back is bounded by maxPutsPerAttempt', async (t) => {
    const h = await pluginHarness(t);
    const job = h.job('line-1/SN-9b.jpg', jpeg(19));
    const n = V7_ASSUMPTIONS.maxPutsPerAttempt;
    h.sim.faults.enqueue(
      { route: 's3Put', resetAfterBytes: 0, times: n },
      { route: 'confirmUpload', status: 409, body: { errors: { code: 'CONFLICT' } }, times: n },
    );
    const [out] = await h.attempt([job]);
    assert.equal(out?.kind, 'retry', JSON.stringify(out));
    assert.equal(codeOf(out), 'UPLOAD_NOT_RECEIVED');
    assert.equal(statsOf(h, 'SN-9b.jpg').putRequests, n);
  });

  it('confirm fails every try: the next attempt confirms, with no sign and no PUT', async (t) => {
    const { s, file } = await failThenResume(t, 'confirmUpload', 500, 'uploaded');
    assert.deepEqual(
      [s.registerCalls, s.signRequests, s.putRequests, s.bytesPut, s.confirmRequests],
      [1, 1, 1, file.length, exhaust + 1],
    );
  });

  it('a confirm whose answer is lost is confirmed again (200), never re-uploaded', async (t) => {
    const h = await pluginHarness(t);
    const job = h.job('line-1/SN-10.jpg', jpeg(10));
    h.sim.loseAnswers('confirmUpload', { times: exhaust });
    const first = await h.attempt([job]);
    assert.equal(first[0]?.kind, 'retry');
    assert.equal(codeOf((await h.attempt([job]))[0]), 'UPLOADED');
    const s = statsOf(h, 'SN-10.jpg');
    assert.deepEqual([s.registerCalls, s.putRequests, s.confirmRequests], [1, 1, exhaust + 1]);
  });

  it('a register that failed before V7 took it is sent again', async (t) => {
    const h = await pluginHarness(t);
    const job = h.job('line-1/SN-11.jpg', jpeg(11));
    h.sim.faults.enqueue({ route: 'registerUpload', status: 502 });
    const first = await h.attempt([job]);
    assert.equal(codeOf(first[0]), 'VENDOR_UNAVAILABLE');
    assert.equal(h.checkpoints.get(job.deliveryId)?.step, 'registering');
    assert.equal(codeOf((await h.attempt([job]))[0]), 'UPLOADED');
    assert.equal(statsOf(h, 'SN-11.jpg').registerCalls, 1);
  });

  it('a register whose answer was lost: ALREADY_EXISTS next time is REJECTED REGISTER_ANSWER_LOST', async (t) => {
    const h = await pluginHarness(t);
    const job = h.job('line-1/SN-12.jpg', jpeg(12));
    h.sim.loseAnswers('registerUpload');
    const first = await h.attempt([job]);
    assert.equal(first[0]?.kind, 'retry');
    assert.equal(first[0]?.kind === 'retry' && first[0].ambiguous, true);
    const second = await h.attempt([job]);
    assert.equal(codeOf(second[0]), 'REGISTER_ANSWER_LOST');
    assert.match(
      second[0]?.kind === 'rejected' ? second[0].error.message : '',
      /delete it and restream this object/,
    );
    assert.equal(statsOf(h, 'SN-12.jpg').putRequests, 0);
  });
});

describe('V7 External Storage: register_existing, no bytes', () => {
  const options = {
    team_slug: 'acme',
    dataset_slug: 'line-2',
    external_storage: { storage_slug: 'acme-bucket', bucket: 'factory-ingest' },
    video: { fps: 5 },
  };

  it('registers the storage keys and reads nothing', async (t) => {
    const h = await pluginHarness(t, { options });
    const jobs = [
      h.job('line-1/aoi-top/SN-1.jpg', jpeg(20), { path: '/aoi-top', tags: ['ok'] }, 'factory-ingest'),
      h.job('line-1/video/SN-1.mp4', Buffer.from('not read'), { path: '/video' }, 'factory-ingest'),
      h.job('elsewhere/SN-2.jpg', jpeg(21), { storage_key: 'mirror/elsewhere/SN-2.jpg' }, 'factory-ingest'),
    ];
    const outs = await h.attempt(jobs);
    assert.deepEqual(kinds(outs), ['accepted', 'accepted', 'accepted']);
    assert.equal(h.sent.length, 1);
    const [register] = h.sent;
    assert.equal(register?.url.pathname, '/api/v2/teams/acme/items/register_existing');
    assert.deepEqual(JSON.parse(register?.text ?? ''), {
      items: [
        {
          name: 'SN-1.jpg',
          path: '/aoi-top',
          storage_key: 'line-1/aoi-top/SN-1.jpg',
          type: 'image',
          tags: ['ok'],
        },
        { name: 'SN-1.mp4', path: '/video', storage_key: 'line-1/video/SN-1.mp4', type: 'video', fps: 5 },
        { name: 'SN-2.jpg', path: '/', storage_key: 'mirror/elsewhere/SN-2.jpg', type: 'image' },
      ],
      dataset_slug: 'line-2',
      storage_slug: 'acme-bucket',
    });
    assert.equal(h.reads.size, 0, 'no object was read');
    assert.equal(h.sim.stats().totals.bytesPut, 0);
    const items = h.sim.items('acme', 'line-2');
    assert.deepEqual(
      items.map((i) => [i.name, i.storage_slug, i.slots[0]?.storage_key]),
      [
        ['SN-1.jpg', 'acme-bucket', 'line-1/aoi-top/SN-1.jpg'],
        ['SN-1.mp4', 'acme-bucket', 'line-1/video/SN-1.mp4'],
        ['SN-2.jpg', 'acme-bucket', 'mirror/elsewhere/SN-2.jpg'],
      ],
    );
    assert.equal(outs[0]?.kind === 'accepted' && outs[0].vendorRef, items[0]?.id);
  });

  it('a read-only storage stops the destination (every item would be refused the same way)', async (t) => {
    const h = await pluginHarness(t, {
      options: { ...options, external_storage: { storage_slug: 'acme-readonly' } },
    });
    const outs = await h.attempt([h.job('a/SN-1.jpg', jpeg(22))]);
    assert.equal(outs[0]?.kind, 'hold');
    assert.equal(codeOf(outs[0]), 'DESTINATION_REFUSED');
    assert.match(outs[0]?.kind === 'hold' ? outs[0].error.message : '', /read-only storage/);
  });

  it('an unknown storage holds the destination: STORAGE_NOT_FOUND', async (t) => {
    const h = await pluginHarness(t, {
      options: { ...options, external_storage: { storage_slug: 'no-such-storage' } },
    });
    const outs = await h.attempt([h.job('a/SN-1.jpg', jpeg(23))]);
    assert.deepEqual([outs[0]?.kind, codeOf(outs[0])], ['hold', 'STORAGE_NOT_FOUND']);
  });

  it('ALREADY_EXISTS is present', async (t) => {
    const h = await pluginHarness(t, { options });
    const job = h.job('a/SN-1.jpg', jpeg(24));
    await h.attempt([job]);
    const again = await h.attempt([h.job('a/SN-1.jpg', jpeg(24))]);
    assert.deepEqual([again[0]?.kind, codeOf(again[0])], ['present', 'ALREADY_EXISTS']);
  });
});

describe('V7 answers → outcomes', () => {
  it('blocked items map to their deliveries; the others of the call go on', async (t) => {
    const h = await pluginHarness(t);
    await h.attempt([h.job('line-1/SN-20.jpg', jpeg(30))]);
    const jobs = [
      h.job('line-1/SN-20.jpg', jpeg(30)),
      h.job('line-1/SN-21.jpg', jpeg(31), { tags: ['defect', 'no-such-tag'] }),
      h.job('line-1/SN-22.jpg', jpeg(32), { tags: ['defect'] }),
    ];
    const [exists, unknown, fine] = await h.attempt(jobs);
    const first = h.sim.items('acme', 'line-1').find((i) => i.name === 'SN-20.jpg');
    assert.deepEqual(exists, {
      kind: 'present',
      vendorRef: first?.id,
      error: {
        code: 'ALREADY_EXISTS',
        message: 'V7 already has an item "/SN-20.jpg" in this dataset (ALREADY_EXISTS)',
        httpStatus: 200,
        vendorCode: 'ALREADY_EXISTS',
      },
    });
    assert.deepEqual(unknown, {
      kind: 'rejected',
      error: {
        code: 'UNKNOWN_TAGS',
        message: 'V7 blocked item "/SN-21.jpg": UNKNOWN_TAGS (tags: defect, no-such-tag)',
        httpStatus: 200,
        vendorCode: 'UNKNOWN_TAGS',
      },
    });
    assert.equal(codeOf(fine), 'UPLOADED');
    assert.equal(statsOf(h, 'SN-21.jpg').putRequests, 0);
  });

  it('401 holds the destination, before any upload and when the key is revoked mid-run', async (t) => {
    const h = await pluginHarness(t, { key: 'not-a-key-the-simulator-knows' });
    const outs = await h.attempt([h.job('line-1/SN-30.jpg', jpeg(40)), h.job('line-1/SN-31.jpg', jpeg(41))]);
    assert.deepEqual(outs.map(codeOf), ['AUTH_FAILED', 'AUTH_FAILED']);
    assert.deepEqual(kinds(outs), ['hold', 'hold']);
    assert.equal(outs[0]?.kind === 'hold' && outs[0].error.httpStatus, 401);

    const h2 = await pluginHarness(t);
    const job = h2.job('line-1/SN-32.jpg', jpeg(42));
    h2.sim.faults.enqueue({ route: 'confirmUpload', status: 503, times: V7_ASSUMPTIONS.maxApiTriesPerStep });
    await h2.attempt([job]);
    h2.sim.revokeApiKey('test-v7-key-not-a-secret');
    const held = await h2.attempt([job]);
    assert.deepEqual([held[0]?.kind, codeOf(held[0])], ['hold', 'AUTH_FAILED']);
    assert.equal(h2.checkpoints.get(job.deliveryId)?.step, 'uploaded', 'the progress is kept for the probe');
  });

  it('404 for an unknown team or dataset holds the destination with what is missing', async (t) => {
    const h = await pluginHarness(t);
    const team = await h.attempt([h.job('line-1/SN-40.jpg', jpeg(50))], {
      team_slug: 'no-such-team',
      dataset_slug: 'line-1',
    });
    assert.deepEqual([team[0]?.kind, codeOf(team[0])], ['hold', 'TEAM_NOT_FOUND']);
    assert.match(team[0]?.kind === 'hold' ? team[0].error.message : '', /team_slug, dataset_slug/);
    const dataset = await h.attempt([h.job('line-1/SN-41.jpg', jpeg(51))], {
      team_slug: 'acme',
      dataset_slug: 'no-such-dataset',
    });
    assert.deepEqual([dataset[0]?.kind, codeOf(dataset[0])], ['hold', 'DATASET_NOT_FOUND']);
  });

  it('429 INSUFFICIENT_REMAINING_STORAGE holds, at register and at confirm; confirm resumes without a PUT', async (t) => {
    const h = await pluginHarness(t, {
      sim: { teams: { acme: { datasets: ['line-1'], remainingStorageBytes: 0 } } },
    });
    const full = await h.attempt([h.job('line-1/SN-50.jpg', jpeg(60))]);
    assert.deepEqual([full[0]?.kind, codeOf(full[0])], ['hold', 'STORAGE_EXHAUSTED']);
    assert.equal(full[0]?.kind === 'hold' && full[0].error.vendorCode, 'INSUFFICIENT_REMAINING_STORAGE');

    const file = jpeg(61);
    h.sim.setRemainingStorage('acme', file.length - 1);
    const job = h.job('line-1/SN-51.jpg', file);
    const atConfirm = await h.attempt([job]);
    assert.deepEqual([atConfirm[0]?.kind, codeOf(atConfirm[0])], ['hold', 'STORAGE_EXHAUSTED']);
    assert.equal(h.checkpoints.get(job.deliveryId)?.step, 'uploaded');
    h.sim.setRemainingStorage('acme', undefined);
    assert.equal(codeOf((await h.attempt([job]))[0]), 'UPLOADED');
    const s = statsOf(h, 'SN-51.jpg');
    assert.deepEqual([s.registerCalls, s.putRequests, s.confirmRequests], [1, 1, 2]);
  });

  it("422: the refused item is REJECTED with V7's errors, the others are registered again", async (t) => {
    const h = await pluginHarness(t);
    h.sim.faults.enqueue({
      route: 'registerUpload',
      status: 422,
      body: {
        errors: { code: 'INVALID_REQUEST', 'items[1].slots[0].file_name': ['is not a supported file type'] },
      },
    });
    const outs = await h.attempt([
      h.job('line-1/SN-60.jpg', jpeg(70)),
      h.job('line-1/SN-61.xyz', jpeg(71)),
      h.job('line-1/SN-62.jpg', jpeg(72)),
    ]);
    assert.deepEqual(outs.map(codeOf), ['UPLOADED', 'INVALID_REQUEST', 'UPLOADED']);
    assert.deepEqual(outs[1], {
      kind: 'rejected',
      error: {
        code: 'INVALID_REQUEST',
        message: 'V7 refused the item: slots[0].file_name: is not a supported file type',
        httpStatus: 422,
        vendorCode: 'INVALID_REQUEST',
      },
    });
    assert.deepEqual(registeredNames(h), [
      ['SN-60.jpg', 'SN-61.xyz', 'SN-62.jpg'],
      ['SN-60.jpg', 'SN-62.jpg'],
    ]);
  });

  it('422 NameTaken without items[N]: the call is split; alone, the item is present; the destination is not held', async (t) => {
    const h = await pluginHarness(t);
    const nameTaken = {
      route: 'registerUpload',
      status: 422,
      body: { errors: { name: ['has already been taken'] } },
    };
    h.sim.faults.enqueue(nameTaken, nameTaken);
    const outs = await h.attempt([h.job('line-1/SN-63.jpg', jpeg(73)), h.job('line-1/SN-64.jpg', jpeg(74))]);
    assert.deepEqual(kinds(outs), ['present', 'accepted']);
    assert.deepEqual(outs[0], {
      kind: 'present',
      error: {
        code: 'NameTaken',
        message: 'V7 already has an item "/SN-63.jpg" in this dataset (NameTaken)',
        httpStatus: 422,
        vendorCode: 'NameTaken',
      },
    });
    assert.deepEqual(registeredNames(h), [['SN-63.jpg', 'SN-64.jpg'], ['SN-63.jpg'], ['SN-64.jpg']]);
  });

  it("422 about no item: alone, the item is REJECTED with V7's message; naming dataset_slug, a hold", async (t) => {
    const h = await pluginHarness(t);
    const refuse = (errors: object) => ({ route: 'registerUpload', status: 422, body: { errors } });
    h.sim.faults.enqueue(refuse({ code: 'INVALID_REQUEST', items: ['is invalid'] }));
    const [out] = await h.attempt([h.job('line-1/SN-65.jpg', jpeg(75))]);
    assert.equal(out?.kind, 'rejected', JSON.stringify(out));
    assert.match(out?.kind === 'rejected' ? out.error.message : '', /items: is invalid/);
    h.sim.faults.enqueue(refuse({ code: 'INVALID_REQUEST', dataset_slug: ['is invalid'] }));
    const outs = await h.attempt([h.job('line-1/SN-66.jpg', jpeg(76)), h.job('line-1/SN-67.jpg', jpeg(77))]);
    assert.deepEqual(kinds(outs), ['hold', 'hold']);
    assert.deepEqual(outs.map(codeOf), ['DESTINATION_REFUSED', 'DESTINATION_REFUSED']);
  });

  it('429 with Retry-After retries after it; without, the core backoff decides', async (t) => {
    const h = await pluginHarness(t);
    h.sim.injectRateLimit('registerUpload', { retryAfterSeconds: 30 });
    const withHeader = await h.attempt([h.job('line-1/SN-70.jpg', jpeg(80))]);
    assert.deepEqual(withHeader[0], {
      kind: 'retry',
      retryAfterMs: 30_000,
      error: {
        code: 'RATE_LIMITED',
        message: 'V7 answered 429: {"errors":{"code":"RATE_LIMIT_EXCEEDED","message":"Too many requests"}}',
        httpStatus: 429,
        vendorCode: 'RATE_LIMIT_EXCEEDED',
      },
    });
    h.sim.injectRateLimit('registerUpload');
    const without = await h.attempt([h.job('line-1/SN-71.jpg', jpeg(81))]);
    assert.equal(without[0]?.kind, 'retry');
    assert.equal(without[0]?.kind === 'retry' && 'retryAfterMs' in without[0], false);
    assert.equal(codeOf(without[0]), 'RATE_LIMITED');

    // On sign, a short Retry-After is waited for in the same attempt; a long one goes back to the core.
    h.sim.injectRateLimit('signUpload', { retryAfterSeconds: 1 });
    assert.equal(codeOf((await h.attempt([h.job('line-1/SN-72.jpg', jpeg(82))]))[0]), 'UPLOADED');
    h.sim.injectRateLimit('signUpload', { retryAfterSeconds: 60 });
    const long = await h.attempt([h.job('line-1/SN-73.jpg', jpeg(83))]);
    assert.equal(long[0]?.kind === 'retry' && long[0].retryAfterMs, 60_000);
  });

  it("one item's exception (no rate-limit token in time) leaves the others' outcomes alone", async (t) => {
    let tokens = 0;
    const h = await pluginHarness(t, {
      options: { team_slug: 'acme', dataset_slug: 'line-1', upload_concurrency: 1 },
      // register, then sign and confirm of the first item; the next token never comes.
      takeToken: async (bucket) => {
        if (++tokens > 3) throw new RateLimitTimeout(bucket);
        return { ok: true };
      },
    });
    const outs = await h.attempt([h.job('line-1/SN-90.jpg', jpeg(95)), h.job('line-1/SN-91.jpg', jpeg(96))]);
    assert.deepEqual(outs.map(codeOf), ['UPLOADED', 'RATE_LIMIT_WAIT']);
    assert.equal(h.checkpoints.get('d2')?.step, 'registered', 'its progress is kept');
  });

  it('5xx and no answer retry', async (t) => {
    const h = await pluginHarness(t);
    h.sim.faults.enqueue({ route: 'registerUpload', status: 500 });
    const five = await h.attempt([h.job('line-1/SN-80.jpg', jpeg(90))]);
    assert.deepEqual([five[0]?.kind, codeOf(five[0])], ['retry', 'VENDOR_UNAVAILABLE']);
    h.sim.faults.enqueue({ route: 'registerUpload', reset: true });
    const none = await h.attempt([h.job('line-1/SN-81.jpg', jpeg(91))]);
    assert.equal(none[0]?.kind, 'retry');
  });
});
