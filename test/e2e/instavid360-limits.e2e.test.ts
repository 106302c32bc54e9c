/**
 * InstaVid360 limits end to end: the monthly quota runs out (deliveries held without spending attempts,
 * visible on the destination, resumed by a probe once credits are back), and a task that never finishes fails
 * at its (short, configured) deadline.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { DeliveryRecord } from '#domain/delivery.ts';
import { makeJpeg } from '#simulators/media/index.ts';
import { type IvHarness, startIvHarness } from './instavid360-harness.ts';

let h: IvHarness;
before(async () => {
  h = await startIvHarness([
    { name: 'iv-quota', options: { task: 'lpa', quota_probe_seconds: 1 }, sim: { quota: { lpa: 3 } } },
    {
      name: 'iv-slow',
      options: { task: 'lpa', callbacks: false, task_deadline_seconds: 2 },
      sim: { completeAfterMs: 10 * 60_000 },
    },
  ]);
});
after(() => h?.stop());

let n = 0;
const upload = (dest: string) =>
  h.upload(`${dest}/front/SN-${++n}_20260105T081500Z.jpg`, makeJpeg({ width: 48, height: 32, seed: n }));
const destinationState = async (name: string) =>
  (
    await h.stack.clients.ddb.send(
      new GetCommand({ TableName: h.stack.tableName, Key: { pk: `destination#${name}`, sk: 'state' } }),
    )
  ).Item;

/** Polls `check` every 100 ms until it holds (60 s at most). */
async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('InstaVid360 limits', () => {
  it('monthly quota used up: held without spending attempts, visible on the destination, resumed after a probe', async () => {
    const sim = h.sims['iv-quota'];
    assert.ok(sim);
    const first = [await upload('iv-quota'), await upload('iv-quota'), await upload('iv-quota')];
    for (const obj of first) assert.equal((await h.settled(obj)).status, 'COMPLETED');
    const more = [await upload('iv-quota'), await upload('iv-quota'), await upload('iv-quota')];
    const held = await Promise.all(more.map((obj) => h.settled(obj, ['HELD'])));
    const state = await destinationState('iv-quota');
    assert.equal(state?.paused, true);
    assert.equal((state?.reason as { code?: string } | undefined)?.code, 'QUOTA_EXHAUSTED');
    for (const rec of held) {
      assert.equal(rec.attempts, 0, 'no attempt spent');
      assert.match(`${rec.lastError?.code} ${rec.lastError?.message}`, /QUOTA_EXHAUSTED/);
    }
    // Probes go out (one delivery at a time) and are refused while the quota is used up; no attempt is spent.
    const refused = () => sim.requestsTo('lpa').filter((r) => r.status === 429).length;
    const refusedBefore = refused();
    await until('two more refused probes', () => refused() >= refusedBefore + 2);
    for (const obj of more) {
      const [rec] = await h.records(obj);
      assert.ok(rec && ['HELD', 'QUEUED', 'SENDING'].includes(rec.status), rec?.status);
      assert.ok((rec as DeliveryRecord).attempts <= 1, 'only a probe in flight holds an attempt');
    }
    // Credits are back (three): the next probe goes through, the destination runs and the held deliveries complete.
    sim.resetQuota();
    for (const obj of more) {
      const rec = await h.settled(obj);
      assert.equal(rec.status, 'COMPLETED', JSON.stringify(rec.lastError));
      assert.ok(rec.history.some((x) => x.status === 'HELD'));
      assert.ok(rec.attempts <= 2, `attempts ${rec.attempts}`);
    }
    assert.equal((await destinationState('iv-quota'))?.paused, false);
    assert.equal(sim.quotaUsed('relay-e2e-iv-quota').lpa, 3, 'three credits since the reset: no task twice');
  });

  it('a task that never finishes fails at its deadline (task_deadline_seconds: 2)', async () => {
    const obj = await upload('iv-slow');
    const rec = await h.settled(obj);
    assert.equal(rec.status, 'FAILED');
    assert.equal(rec.lastError?.code, 'TASK_TIMEOUT');
    assert.match(
      rec.lastError?.message ?? '',
      /still "(new|processing)" \d+ s after it was created \(deadline 2 s\)/,
    );
    assert.equal(h.resultWrites.length, 3 + 3, 'only the completed tasks wrote results');
  });
});
