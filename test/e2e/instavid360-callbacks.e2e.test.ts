/**
 * InstaVid360 callbacks through the local HTTP API and the real callback handler: a forged token, a valid
 * token with a false body, a duplicated callback, a lost one, and a flood of forged ones. Each ends with the
 * right record and at most one result object; forged callbacks reach neither the table's records nor the vendor.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { request } from 'undici';
import { StatusTable } from '#adapters/dynamodb.ts';
import { callbackToken, signingKeyFrom } from '#domain/callback-token.ts';
import { type DeliveryRecord, encodeDeliveryId } from '#domain/delivery.ts';
import { LOCAL_DEFAULTS } from '#local/stack.ts';
import { makeJpeg } from '#simulators/media/index.ts';
import { detailOf, type IvHarness, startIvHarness, type Uploaded } from './instavid360-harness.ts';

let h: IvHarness;
before(async () => {
  h = await startIvHarness([
    // Time stands still at the vendor until a test moves it; the poller leaves tasks to their callbacks.
    { name: 'iv-held', options: { task: 'lpa', callback_grace_seconds: 3600 }, sim: { clock: 'manual' } },
    // Time stands still too, but the poller asks from the first check on (grace 0).
    { name: 'iv-false', options: { task: 'lpa', callback_grace_seconds: 0 }, sim: { clock: 'manual' } },
    // Every callback is sent twice; the poller leaves tasks to their callbacks.
    {
      name: 'iv-dup',
      options: { task: 'lpa', callback_grace_seconds: 3600 },
      sim: { callback: { duplicateRate: 1 } },
    },
    // Every callback is lost: polling (grace 0) is the only way home.
    {
      name: 'iv-lost',
      options: { task: 'lpa', callback_grace_seconds: 0 },
      sim: { callback: { lossRate: 1 } },
    },
  ]);
});
after(() => h?.stop());

let n = 0;
const upload = (dest: string) =>
  h.upload(`${dest}/front/SN-${++n}_20260105T081500Z.jpg`, makeJpeg({ width: 48, height: 32, seed: n }));
const post = async (url: string, body: unknown) => {
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.statusCode, body: await res.body.text() };
};
const resultWritesFor = (obj: Uploaded) =>
  h.resultWrites.filter((w) => w.key.includes(obj.key.replace(/\.jpg$/, '')));
const statusCalls = (dest: string, task?: string) =>
  (h.sims[dest]?.requestsTo('taskStatus') ?? []).filter((r) => !task || r.path.endsWith(`/${task}`)).length;
const strip = (r: DeliveryRecord) => ({ ...r, updatedAt: undefined });

async function processing(dest: string): Promise<{ obj: Uploaded; rec: DeliveryRecord; task: string }> {
  const obj = await upload(dest);
  const rec = await h.settled(obj, ['PROCESSING']);
  assert.ok(rec.vendorRef);
  return { obj, rec, task: rec.vendorRef };
}

describe('InstaVid360 callbacks', () => {
  it('a forged token: 404, no vendor call, the record unchanged', async () => {
    const { obj, rec } = await processing('iv-held');
    const calls = h.sims['iv-held']?.requests.length;
    const id = encodeDeliveryId(rec);
    const forged = await post(h.stack.callbackUrl('instavid360', `${id}.AAAAAAAAAAAAAAAAAAAAAA`), {
      data: { status: 'complete', task: rec.vendorRef, result: { url: 'http://127.0.0.1:9/evil.jpg' } },
    });
    assert.equal(forged.status, 404);
    // The old token (the record key in base64, which anyone can compute) is no token any more.
    assert.equal((await post(h.stack.callbackUrl('instavid360', id), {})).status, 404);
    assert.equal(h.sims['iv-held']?.requests.length, calls, 'no vendor call');
    assert.deepEqual(strip((await h.records(obj))[0] as DeliveryRecord), strip(rec));
  });

  it('a valid token with a false body ("complete" while processing): re-queried, nothing changes; the truth completes it once', async () => {
    const sim = h.sims['iv-false'];
    assert.ok(sim);
    const { obj, task } = await processing('iv-false');
    await sim.advance(200); // the vendor says "processing" now
    const url = sim.getTask(task)?.callbackUrl;
    assert.ok(url, 'the relay gave the vendor a signed callback URL');
    const before = statusCalls('iv-false', task);
    const lie = await post(url, {
      success: true,
      code: 0,
      message: 'OK',
      data: { task, status: 'complete', result: { url: 'http://127.0.0.1:9/evil.jpg' } },
    });
    assert.equal(lie.status, 202);
    assert.deepEqual(
      JSON.parse(lie.body),
      { accepted: true, checked: 1, changed: 0 },
      'asked, changed nothing',
    );
    assert.ok(statusCalls('iv-false', task) > before, 'the relay asked the vendor');
    const rec = (await h.records(obj))[0] as DeliveryRecord;
    assert.equal(rec.status, 'PROCESSING');
    assert.equal(resultWritesFor(obj).length, 0);
    // The task really completes: its callback (or the poller) brings the result home, once.
    await sim.advance(2_000);
    const done = await h.settled(obj, ['COMPLETED']);
    assert.equal(detailOf(done).task, task);
    assert.equal(resultWritesFor(obj).length, 1);
  });

  it('a duplicated callback: COMPLETED, one result object', async () => {
    const obj = await upload('iv-dup');
    const rec = await h.settled(obj);
    assert.equal(rec.status, 'COMPLETED', JSON.stringify(rec.lastError));
    const task = h.sims['iv-dup']?.getTask(rec.vendorRef ?? '');
    await h.sims['iv-dup']?.whenIdle();
    assert.equal(task?.callbacks.length, 2, 'the vendor called back twice');
    assert.ok(
      task?.callbacks.every((c) => c.statusCode !== undefined && c.statusCode < 300),
      JSON.stringify(task?.callbacks),
    );
    assert.equal(resultWritesFor(obj).length, 1);
    assert.ok(statusCalls('iv-dup', rec.vendorRef) <= 2);
  });

  it('a lost callback: the poller brings the result home, once', async () => {
    const obj = await upload('iv-lost');
    const rec = await h.settled(obj);
    assert.equal(rec.status, 'COMPLETED', JSON.stringify(rec.lastError));
    assert.equal(h.sims['iv-lost']?.getTask(rec.vendorRef ?? '')?.callbackSkipped, 'lost');
    assert.equal(resultWritesFor(obj).length, 1);
  });

  it('bringing a result home is claimed on the delivery record: one claimant at a time, lapsing, given back', async () => {
    const { rec } = await processing('iv-held');
    let clock = Date.now();
    const table = new StatusTable(
      h.stack.clients.relay.table as NonNullable<typeof h.stack.clients.relay.table>,
      h.stack.tableName,
      () => clock,
    );
    const claims = await Promise.all(
      Array.from({ length: 8 }, () => table.claimStep(rec, 'result:T1', 60_000)),
    );
    assert.equal(claims.filter(Boolean).length, 1, 'eight workers at once: one claim');
    assert.equal(await table.claimStep(rec, 'result:T2', 60_000), true, 'another step is another claim');
    clock += 61_000;
    assert.equal(await table.claimStep(rec, 'result:T1', 60_000), true, 'a claim whose holder died lapses');
    await table.releaseStep(rec, 'result:T1');
    assert.equal(await table.claimStep(rec, 'result:T1', 60_000), true, 'a claim given back is free');
    assert.equal(
      await table.claimStep({ pk: 'object#nope', sk: 'destination#iv-held' }, 'result:T1', 60_000),
      false,
      'no record, no claim',
    );
  });

  it('a flood of 400 forged callbacks: every one 404, no record changes, no vendor call', async () => {
    const targets = await Promise.all([processing('iv-held'), processing('iv-held'), processing('iv-held')]);
    const before = await Promise.all(
      targets.map(async (t) => strip((await h.records(t.obj))[0] as DeliveryRecord)),
    );
    const calls = Object.values(h.sims).map((s) => s.requests.length);
    const secret = await h.stack.clients.secrets.send(
      new GetSecretValueCommand({ SecretId: LOCAL_DEFAULTS.callbackKeySecret }),
    );
    const key = signingKeyFrom(secret.SecretString ?? '');
    const ids = targets.map((t) => encodeDeliveryId(t.rec));
    const forgeries = (i: number): string => {
      const id = ids[i % ids.length] as string;
      switch (i % 5) {
        case 0:
          return h.stack.callbackUrl('instavid360', `${id}.${Buffer.from(String(i)).toString('base64url')}`);
        case 1: // the right MAC for another vendor
          return h.stack.callbackUrl('instavid360', callbackToken(key, 'instrumental', id));
        case 2: // a valid InstaVid360 token, on another vendor's route
          return h.stack.callbackUrl('instrumental', callbackToken(key, 'instavid360', id));
        case 3:
          return h.stack.callbackUrl('instavid360', `junk-${i}`);
        default: // the MAC of another delivery
          return h.stack.callbackUrl(
            'instavid360',
            `${id}.${callbackToken(key, 'instavid360', ids[(i + 1) % ids.length] as string)
              .split('.')
              .pop()}`,
          );
      }
    };
    const statuses: number[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (next < 400) {
          const i = next++;
          statuses.push(
            (await post(forgeries(i), { data: { task: targets[0]?.task, status: 'complete' } })).status,
          );
        }
      }),
    );
    assert.equal(statuses.length, 400);
    assert.deepEqual([...new Set(statuses)], [404]);
    assert.deepEqual(
      Object.values(h.sims).map((s) => s.requests.length),
      calls,
      'no vendor call',
    );
    const afterRecs = await Promise.all(
      targets.map(async (t) => strip((await h.records(t.obj))[0] as DeliveryRecord)),
    );
    assert.deepEqual(afterRecs, before);
    // The same key makes tokens the relay accepts (so the forgeries above were refused for their MAC alone).
    const real = await post(
      h.stack.callbackUrl('instavid360', callbackToken(key, 'instavid360', ids[0] as string)),
      null,
    );
    assert.equal(real.status, 202);
  });
});
