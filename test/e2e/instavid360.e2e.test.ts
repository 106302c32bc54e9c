/**
 * InstaVid360 end to end: S3 put → router → forwarder (upload, task) → simulator → callback or poller → the
 * processed image in the results bucket → COMPLETED. Real handlers on the emulators, real HTTP to simulators.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { encodeDeliveryId } from '#domain/delivery.ts';
import { makeJpeg, makePng } from '#simulators/media/index.ts';
import { detailOf, type IvHarness, startIvHarness, type Uploaded } from './instavid360-harness.ts';

const BACKGROUND = makeJpeg({ width: 96, height: 64, seed: 31 });
const OVERLAY = makePng({ width: 48, height: 32, seed: 32 });

let h: IvHarness;
before(async () => {
  h = await startIvHarness([
    {
      name: 'iv-studio',
      options: {
        task: 'bg-replace',
        background: { s3: 's3://brand-assets/backdrops/studio.jpg' },
        overlay: { file: 'logo.png', data_base64: OVERLAY.toString('base64') },
        shadow: true,
      },
      fields: { meta: { VIN: '{serial}', simulate_failure: '{sidecar.fail}' } },
    },
    { name: 'iv-plates', options: { task: 'lpa', callbacks: false } },
    // Tasks move only when a test advances this simulator's clock.
    { name: 'iv-versions', options: { task: 'lpa', callbacks: false }, sim: { clock: 'manual' } },
  ]);
  await h.putAsset('backdrops/studio.jpg', BACKGROUND);
});
after(() => h?.stop());

const photo = (seed: number) => makeJpeg({ width: 64, height: 48, seed });
const key = (dest: string, serial: string, ext = 'jpg') => `${dest}/front/${serial}_20260105T081500Z.${ext}`;

async function expectResult(obj: Uploaded, dest: string) {
  const rec = await h.settled(obj);
  assert.equal(rec.status, 'COMPLETED', JSON.stringify(rec.lastError));
  const sim = h.sims[dest];
  const task = sim?.getTask(rec.vendorRef ?? '');
  assert.ok(task?.result, 'the record names the task that made the result');
  assert.equal(task.reference, encodeDeliveryId(rec), 'the task reference is the delivery id');
  const detail = detailOf(rec);
  const resultKey = `results/${dest}/${obj.key.replace(/\.jpg$/, '')}.jpg`;
  assert.equal(detail.result, `s3://${h.stack.buckets.results}/${resultKey}`);
  const stored = await h.readResult(resultKey);
  assert.deepEqual(stored.body, task.result.bytes, "the simulator's processed image, byte for byte");
  assert.equal(stored.contentType, 'image/jpeg');
  assert.equal(stored.metadata['source-bucket'], h.stack.buckets.ingest);
  assert.equal(stored.metadata['source-key'], encodeURIComponent(obj.key));
  assert.equal(stored.metadata['source-version-id'], obj.versionId);
  assert.equal(stored.metadata['instavid360-task'], rec.vendorRef);
  assert.equal(stored.metadata['relay-delivery'], encodeDeliveryId(rec));
  assert.equal(h.resultWrites.filter((w) => w.key === resultKey).length, 1, 'exactly one result object');
  return { rec, task, resultKey };
}

describe('InstaVid360 end to end', () => {
  it('bg-replace: background (S3) and overlay (shipped file) applied; the result is home, linked to its source', async () => {
    const obj = await h.upload(key('iv-studio', 'VIN-1001'), photo(1));
    const { rec, task } = await expectResult(obj, 'iv-studio');
    assert.deepEqual(
      rec.history.map((x) => x.status),
      ['QUEUED', 'SENDING', 'PROCESSING', 'COMPLETED'],
    );
    assert.equal(task.type, 'bgReplace');
    assert.deepEqual(task.options, { shadow: true });
    assert.deepEqual(
      task.meta,
      { VIN: 'VIN-1001' },
      'meta templates; a placeholder that does not resolve is left out',
    );
    const sim = h.sims['iv-studio'];
    assert.equal(
      sim?.getUpload(task.background ?? '')?.sha256,
      (await import('node:crypto')).createHash('sha256').update(BACKGROUND).digest('hex'),
    );
    assert.equal(sim?.getUpload(task.overlay ?? '')?.type, 'image/png');
    assert.ok(
      task.callbacks.some((c) => c.statusCode === 202),
      'the vendor called back and the relay took it',
    );
  });

  it('LPA (polling only): the anonymised image is home', async () => {
    const obj = await h.upload(key('iv-plates', 'VIN-2001'), photo(2));
    const { task } = await expectResult(obj, 'iv-plates');
    assert.equal(task.type, 'lpa');
    assert.equal(task.callbackUrl, null, 'callbacks off: no callback_url');
  });

  it('50 photos: the background and the overlay are uploaded once; 50 tasks, 50 results, each written once', async () => {
    const sim = h.sims['iv-studio'];
    assert.ok(sim);
    const before = sim.listUploads().map((u) => u.kind);
    const objs = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        h.upload(key('iv-studio', `VIN-3${String(i).padStart(3, '0')}`), photo(100 + i)),
      ),
    );
    for (const obj of objs) {
      const rec = await h.settled(obj, undefined, 120_000);
      assert.equal(rec.status, 'COMPLETED', `${obj.key}: ${JSON.stringify(rec.lastError)}`);
    }
    const after = sim.listUploads().map((u) => u.kind);
    const added = (kind: string) =>
      after.filter((k) => k === kind).length - before.filter((k) => k === kind).length;
    assert.equal(added('background'), 0, 'the background uploaded by the first test is reused');
    assert.equal(added('overlay'), 0);
    assert.equal(after.filter((k) => k === 'background').length, 1);
    assert.equal(after.filter((k) => k === 'overlay').length, 1);
    assert.equal(added('original'), 50);
    const keys = objs.map((o) => `results/iv-studio/${o.key.replace(/\.jpg$/, '')}.jpg`);
    for (const k of keys) assert.equal(h.resultWrites.filter((w) => w.key === k).length, 1, k);
  });

  it('a task the vendor fails: FAILED with its reason, no result', async () => {
    await h.upload(
      `${key('iv-studio', 'VIN-4001')}.json`,
      Buffer.from(JSON.stringify({ fail: 'The vehicle is cut off at the frame edge.' })),
    );
    const obj = await h.upload(key('iv-studio', 'VIN-4001'), photo(4));
    const rec = await h.settled(obj);
    assert.equal(rec.status, 'FAILED');
    assert.equal(rec.lastError?.code, 'TASK_FAILED');
    assert.match(rec.lastError?.message ?? '', /The vehicle is cut off at the frame edge\./);
    assert.equal(h.resultWrites.filter((w) => w.key.includes('VIN-4001')).length, 0);
  });

  it("a key uploaded again while its first task runs: the older version's result never replaces the newer one's", async () => {
    const sim = h.sims['iv-versions'];
    assert.ok(sim);
    const older = await h.upload(key('iv-versions', 'VIN-6001'), photo(61));
    await h.settled(older, ['PROCESSING']);
    const newer = await h.upload(key('iv-versions', 'VIN-6001'), photo(62));
    assert.notEqual(newer.versionId, older.versionId);
    await h.settled(newer, ['PROCESSING']);
    // Both tasks complete at once; whichever the poller checks first, only the newer source's result is home.
    await sim.advance(2_000);
    const [a, b] = [await h.settled(older), await h.settled(newer)];
    assert.equal(b.status, 'COMPLETED', JSON.stringify(b.lastError));
    assert.equal(b.notice, undefined);
    assert.equal(a.status, 'COMPLETED', JSON.stringify(a.lastError));
    assert.equal(a.notice?.code, 'OBJECT_SUPERSEDED');
    assert.match(a.notice?.message ?? '', new RegExp(`now version ${newer.versionId}`));
    assert.deepEqual(
      a.history.map((x) => [x.status, x.code]),
      [
        ['QUEUED', undefined],
        ['SENDING', undefined],
        ['PROCESSING', undefined],
        ['COMPLETED', 'OBJECT_SUPERSEDED'],
      ],
    );
    const resultKey = `results/iv-versions/${newer.key.replace(/\.jpg$/, '')}.jpg`;
    assert.equal(detailOf(a).resultNotWritten, resultKey.replace(/^results\//, ''));
    assert.equal(detailOf(a).result, undefined);
    assert.equal(detailOf(b).result, `s3://${h.stack.buckets.results}/${resultKey}`);
    const stored = await h.readResult(resultKey);
    assert.deepEqual(stored.body, sim.getTask(b.vendorRef ?? '')?.result?.bytes);
    assert.equal(stored.metadata['source-version-id'], newer.versionId);
    assert.equal(h.resultWrites.filter((w) => w.key === resultKey).length, 1, 'one write: the newer result');
  });

  it('pre-flight: a GIF and a file over 2 MB are REJECTED without a vendor call', async () => {
    const sim = h.sims['iv-plates'];
    const calls = sim?.requests.length;
    const gif = await h.upload(key('iv-plates', 'VIN-5001'), Buffer.from('GIF89a not a photo'));
    const big = await h.upload(
      key('iv-plates', 'VIN-5002', 'png'),
      Buffer.concat([makePng(), Buffer.alloc(2_000_000)]),
    );
    assert.equal((await h.settled(gif)).lastError?.code, 'UNSUPPORTED_FORMAT');
    assert.equal((await h.settled(big)).lastError?.code, 'FILE_TOO_LARGE');
    assert.equal(sim?.requests.length, calls);
  });
});
