/**
 * Pre-flight through the whole pipeline (S3 → router → forwarder → Instrumental simulator): the same content
 * gets the same verdict wherever its header sits, and names the vendor's multipart parser could misread arrive
 * whole.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeJpeg, makeJpegHeaderOnly, makeMp4 } from '#simulators/media/index.ts';
import { type Harness, startHarness } from './harness.ts';

let h: Harness;
const SLOW = { timeout: 600_000 };
const FINAL = ['UPLOADED', 'PENDING_VALIDATION', 'REJECTED', 'DEAD', 'FAILED_VALIDATION'] as const;

before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.stop();
});

/** Uploads each file and answers its record once final, plus whether the vendor ever received it. */
async function verdicts(files: Array<{ key: string; body: Buffer }>) {
  const out: Array<{ status: string; code?: string; reachedVendor: boolean }> = [];
  for (const f of files) {
    const obj = await h.upload(f.key, f.body);
    const rec = await h.waitForStatus(obj, [...FINAL], 300_000);
    const name = f.key.slice(f.key.lastIndexOf('/') + 1);
    out.push({
      status: rec.status,
      ...(rec.lastError?.code ? { code: rec.lastError.code } : {}),
      reachedVendor: h.sim.files().some((x) => x.data.fileName === name),
    });
  }
  return out;
}

describe('pre-flight does not depend on where the header sits', () => {
  it(
    'a 48 MP JPEG is refused with its SOF near the start or after 1.2 MB of APP2 segments',
    SLOW,
    async () => {
      const near = makeJpegHeaderOnly({
        width: 8000,
        height: 6000,
        padToBytes: 1_300_000,
        padAt: 'beforeSos',
      });
      const far = makeJpegHeaderOnly({
        width: 8000,
        height: 6000,
        padToBytes: 1_300_000,
        padAt: 'afterApp0',
        padMarker: 0xe2,
      });
      assert.ok(
        far.indexOf(Buffer.from([0xff, 0xc0])) > 1_000_000,
        'the SOF really is past the first megabyte',
      );
      const got = await verdicts([
        { key: 'line-1/PF/SN-PF1_20260105T100000Z.jpg', body: near },
        { key: 'line-1/PF/SN-PF2_20260105T100000Z.jpg', body: far },
      ]);
      for (const g of got)
        assert.deepEqual(g, { status: 'REJECTED', code: 'TOO_MANY_PIXELS', reachedVendor: false });
    },
  );

  it(
    'an mp4v video is refused whether its moov is first ("fast start") or after a 1.5 MB mdat',
    SLOW,
    async () => {
      const got = await verdicts([
        {
          key: 'line-1/PF/SN-PF3_20260105T100000Z.mp4',
          body: makeMp4({ codec: 'mp4v', padToBytes: 1_500_000 }),
        },
        {
          key: 'line-1/PF/SN-PF4_20260105T100000Z.mp4',
          body: makeMp4({ codec: 'mp4v', padToBytes: 1_500_000, moovAtEnd: true }),
        },
      ]);
      for (const g of got)
        assert.deepEqual(g, { status: 'REJECTED', code: 'UNSUPPORTED_CODEC', reachedVendor: false });
      // The same layouts with H.264 go through.
      const ok = await verdicts([
        {
          key: 'line-1/PF/SN-PF5_20260105T100000Z.mp4',
          body: makeMp4({ codec: 'avc1', padToBytes: 1_500_000, moovAtEnd: true }),
        },
      ]);
      assert.equal(ok[0]?.reachedVendor, true);
    },
  );

  it('a JPEG cut before its frame header is refused, not forwarded', SLOW, async () => {
    const whole = makeJpeg({ width: 64, height: 48, padToBytes: 300_000, padAt: 'afterApp0' });
    const sof = whole.indexOf(Buffer.from([0xff, 0xc0]));
    const got = await verdicts([
      { key: 'line-1/PF/SN-PF6_20260105T100000Z.jpg', body: whole.subarray(0, sof - 10) },
    ]);
    assert.deepEqual(got[0], { status: 'REJECTED', code: 'JPEG_WITHOUT_FRAME', reachedVendor: false });
  });
});

describe('names the multipart parser could misread', () => {
  it(
    'a key with a double quote reaches the vendor as one file, its exact name in the data JSON',
    SLOW,
    async () => {
      const key = 'line-1/PF/SN-"Q7"_20260105T100000Z.jpg';
      const obj = await h.upload(key, makeJpeg({ width: 16, height: 16, seed: 77 }));
      const rec = await h.waitForStatus(obj, [...FINAL], 300_000);
      assert.ok(['PENDING_VALIDATION', 'UPLOADED'].includes(rec.status), JSON.stringify(rec.lastError));
      const stored = h.sim.files().filter((f) => f.fileId === rec.vendorRef);
      assert.equal(stored.length, 1);
      assert.equal(stored[0]?.data.fileName, 'SN-"Q7"_20260105T100000Z.jpg', 'the exact name, in data');
      assert.equal(
        stored[0]?.fileName,
        'SN-%22Q7%22_20260105T100000Z.jpg',
        'the multipart name, encoded as browsers do',
      );
    },
  );
});
