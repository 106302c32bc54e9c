/**
 * `skip_duplicate_content`: the same bytes uploaded again (a new S3 version of the same key, or another key) are
 * sent once to a destination that asks for it, and recorded SKIPPED / DUPLICATE_CONTENT; other content and other
 * destinations are unaffected.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeJpeg } from '#simulators/media/index.ts';
import { type Harness, instrumentalTransmit, startHarness } from './harness.ts';

const SLOW = { timeout: 600_000 };
const DONE = ['PENDING_VALIDATION', 'UPLOADED', 'SKIPPED', 'REJECTED', 'DEAD'] as const;
let h: Harness;

before(async () => {
  h = await startHarness({
    transmits: (url) => [
      instrumentalTransmit('dedupe', url, 'relay-tests/instrumental', { skip_duplicate_content: true }),
      instrumentalTransmit('every-version', url, 'relay-tests/instrumental'),
    ],
  });
});
after(async () => {
  await h?.stop();
});

describe('skip_duplicate_content', () => {
  it('sends the same bytes once, whatever version or key they come under', SLOW, async () => {
    const bytes = makeJpeg({ width: 16, height: 16, seed: 501 });
    const first = await h.upload('line-1/DD/SN-D1_20260105T100000Z.jpg', bytes);
    const firstRecs = await h.waitFor(
      first,
      (r) => r.length === 2 && r.every((x) => DONE.includes(x.status as never)),
      300_000,
    );
    const status = async (obj: typeof first, dest: string) =>
      (
        await h.waitFor(
          obj,
          (r) => r.length === 2 && r.every((x) => DONE.includes(x.status as never)),
          300_000,
        )
      ).find((r) => r.destination === dest);
    assert.ok(
      ['PENDING_VALIDATION', 'UPLOADED'].includes(
        firstRecs.find((r) => r.destination === 'dedupe')?.status ?? '',
      ),
    );
    // One at a time: the local S3 keeps only a key's newest version readable (real S3 keeps them all).
    const again = await h.upload('line-1/DD/SN-D1_20260105T100000Z.jpg', bytes);
    assert.notEqual(again.versionId, first.versionId, 'a new version of the same key');
    await status(again, 'dedupe');
    const elsewhere = await h.upload('line-1/DD/SN-D2_20260105T100000Z.jpg', bytes);
    for (const dup of [again, elsewhere]) {
      const rec = await status(dup, 'dedupe');
      assert.equal(rec?.status, 'SKIPPED');
      assert.equal(rec?.notice?.code, 'DUPLICATE_CONTENT');
      assert.match(
        rec?.notice?.message ?? '',
        /SN-D1_20260105T100000Z\.jpg/,
        'names the delivery that brought it',
      );
      assert.equal(rec?.attempts, 0, 'nothing was sent');
      assert.ok(
        ['PENDING_VALIDATION', 'UPLOADED'].includes((await status(dup, 'every-version'))?.status ?? ''),
      );
    }
    const other = await h.upload(
      'line-1/DD/SN-D1_20260105T100000Z.jpg',
      makeJpeg({ width: 16, height: 16, seed: 502 }),
    );
    assert.ok(
      ['PENDING_VALIDATION', 'UPLOADED'].includes((await status(other, 'dedupe'))?.status ?? ''),
      'new bytes go',
    );
    const sentTo = (key: string) => h.sim.files().filter((f) => f.data.fileName === key).length;
    // dedupe: the first bytes and the new bytes (2); every-version: all three versions of the key (3).
    assert.equal(sentTo('SN-D1_20260105T100000Z.jpg'), 2 + 3);
  });
});
