import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { request } from 'undici';
import {
  baseOptions,
  call,
  type ErrorOut,
  localFile,
  type RegisterOut,
  registerBody,
  signedUrl,
  started,
  uploadIdOf,
} from './testing.ts';
import type { V7Stats } from './traffic.ts';

/**
 * The knobs and counters a relay's tests rely on: a failure injected at each of the four steps (register,
 * sign, PUT, confirm) before or after the step took effect, 429 with and without Retry-After, 401 and storage
 * exhaustion in the middle of a run, and per-item counts of register calls, signs, bytes PUT and confirms.
 */

const clock = () => 1_700_000_000_000;
const REGISTER = '/api/v2/teams/acme/items/register_upload';
const sign = (id: string) => `/api/v2/teams/acme/items/uploads/${id}/sign`;
const confirm = (id: string) => `/api/v2/teams/acme/items/uploads/${id}/confirm`;

async function put(url: string, bytes: Buffer): Promise<number> {
  const res = await request(url, { method: 'PUT', body: bytes });
  await res.body.dump();
  return res.statusCode;
}

describe('V7 Darwin simulator — failures at each step and what V7 received', () => {
  it('a failure injected before each step changes nothing; the step then succeeds; every request is counted', async (t) => {
    const [sim, base] = await started(t, baseOptions(clock));
    const bytes = Buffer.alloc(1234, 7);
    const body = registerBody('line-1', [localFile('a.jpg')]);

    sim.faults.enqueue({ route: 'registerUpload', status: 503 });
    assert.equal((await call(base, 'POST', REGISTER, { body })).status, 503);
    assert.equal(sim.items('acme', 'line-1').length, 0);
    const reg = await call(base, 'POST', REGISTER, { body });
    const id = uploadIdOf(reg);

    sim.faults.enqueue({ route: 'signUpload', status: 500 });
    assert.equal((await call(base, 'GET', sign(id))).status, 500);
    const url = await signedUrl(base, 'acme', id);

    sim.injectS3Error(500, 'InternalError', 'We encountered an internal error. Please try again.');
    assert.equal(await put(url, bytes), 500);
    assert.equal(sim.upload(id)?.slot.status, 'awaiting_upload');
    assert.equal(await put(url, bytes), 200);

    sim.faults.enqueue({ route: 'confirmUpload', reset: true });
    await assert.rejects(call(base, 'POST', confirm(id), { body: {} }));
    assert.equal(sim.upload(id)?.slot.status, 'uploaded');
    assert.equal((await call(base, 'POST', confirm(id), { body: {} })).status, 200);
    assert.equal(sim.upload(id)?.slot.status, 'complete');

    // A re-register of the same item is blocked; the blocked UNKNOWN_TAGS item is listed though never stored.
    await call(base, 'POST', REGISTER, {
      body: registerBody('line-1', [localFile('a.jpg'), localFile('b.jpg', '/', { tags: ['nope'] })]),
    });

    const stats = sim.stats();
    const a = stats.items.find((i) => i.name === 'a.jpg');
    assert.ok(a);
    assert.deepEqual(
      {
        registerCalls: a.registerCalls,
        blockedReasons: a.blockedReasons,
        signRequests: a.signRequests,
        putRequests: a.putRequests,
        bytesPut: a.bytesPut,
        confirmRequests: a.confirmRequests,
        status: a.status,
        uploads: a.slots[0]?.uploads,
      },
      {
        // The injected register failure is not attributed (its body was never read): see the route counts.
        registerCalls: 2,
        blockedReasons: ['ALREADY_EXISTS'],
        signRequests: 2,
        putRequests: 2,
        bytesPut: 2 * bytes.length,
        confirmRequests: 2,
        status: 'complete',
        uploads: 1,
      },
    );
    const b = stats.items.find((i) => i.name === 'b.jpg');
    assert.deepEqual([b?.id, b?.registerCalls, b?.blockedReasons, b?.slots], [null, 1, ['UNKNOWN_TAGS'], []]);
    assert.deepEqual(stats.routes.registerUpload, { requests: 3, statuses: { '200': 2, '503': 1 } });
    assert.deepEqual(stats.routes.confirmUpload, { requests: 2, statuses: { '200': 1, reset: 1 } });
    assert.deepEqual(stats.routes.s3Put, { requests: 2, statuses: { '200': 1, '500': 1 } });
    assert.deepEqual(stats.totals, {
      registerCalls: 3,
      signRequests: 2,
      putRequests: 2,
      bytesPut: 2 * bytes.length,
      confirmRequests: 2,
    });

    // The same through the inspection API; reset forgets it.
    const state = (await (await request(`${base}/__sim/state`)).body.json()) as { stats: V7Stats };
    assert.deepEqual(state.stats, stats);
    sim.reset();
    assert.deepEqual(sim.stats(), {
      routes: {},
      items: [],
      totals: { registerCalls: 0, signRequests: 0, putRequests: 0, bytesPut: 0, confirmRequests: 0 },
    });
  });

  it('loseAnswers: the step takes effect, then its answer is lost (dropped connection or a status)', async (t) => {
    const [sim, base] = await started(t, baseOptions(clock));
    const body = registerBody('line-1', [localFile('a.jpg')]);

    sim.loseAnswers('registerUpload');
    await assert.rejects(call(base, 'POST', REGISTER, { body }));
    const stored = sim.items('acme', 'line-1');
    assert.equal(stored.length, 1);
    // The client never learnt the upload_id: a retried register meets ALREADY_EXISTS with the item's id.
    const again = await call(base, 'POST', REGISTER, { body });
    const blocked = again.json<RegisterOut>().blocked_items[0];
    assert.equal(blocked?.id, stored[0]?.id);
    assert.equal(blocked?.slots[0]?.reason, 'ALREADY_EXISTS');
    const id = stored[0]?.slots[0]?.upload_id ?? '';

    sim.loseAnswers('signUpload', { status: 502 });
    assert.equal((await call(base, 'GET', sign(id))).status, 502);
    const url = await signedUrl(base, 'acme', id);

    sim.loseAnswers('s3Put');
    await assert.rejects(request(url, { method: 'PUT', body: Buffer.from('first') }));
    assert.equal(sim.upload(id)?.slot.status, 'uploaded');
    assert.equal(await put(url, Buffer.from('second')), 200);
    assert.equal(sim.upload(id)?.slot.upload_count, 2);

    sim.loseAnswers('confirmUpload', { status: 504 });
    const lost = await call(base, 'POST', confirm(id), { body: {} });
    assert.equal(lost.status, 504);
    assert.equal(sim.upload(id)?.slot.status, 'complete');
    assert.equal((await call(base, 'POST', confirm(id), { body: {} })).status, 200);

    const log = sim.requestsTo('confirmUpload');
    assert.deepEqual(log[0]?.details.lostAnswer, 504);
    assert.deepEqual(log[0]?.details.realStatus, 200);
    const a = sim.stats().items[0];
    assert.deepEqual(
      [a?.registerCalls, a?.signRequests, a?.putRequests, a?.bytesPut, a?.confirmRequests],
      [2, 2, 2, 'first'.length + 'second'.length, 2],
    );
  });

  it('loseAnswers waits for a successful request: an error answer is delivered as is', async (t) => {
    const [sim, base] = await started(t, baseOptions(clock));
    sim.loseAnswers('registerUpload', { status: 502 });
    const bad = await call(base, 'POST', REGISTER, {
      body: registerBody('no-such-dataset', [localFile('a.jpg')]),
    });
    assert.equal(bad.status, 404);
    const ok = await call(base, 'POST', REGISTER, { body: registerBody('line-1', [localFile('a.jpg')]) });
    assert.equal(ok.status, 502);
    assert.equal(sim.items('acme', 'line-1').length, 1);
  });
});

describe('V7 Darwin simulator — injected 429s, revoked keys, exhausted storage', () => {
  it('injectRateLimit answers 429 RATE_LIMIT_EXCEEDED with or without Retry-After, then lets requests through', async (t) => {
    const [sim, base] = await started(t, baseOptions(clock));
    const body = registerBody('line-1', [localFile('a.jpg')]);
    sim.injectRateLimit('registerUpload', { retryAfterSeconds: 7 });
    sim.injectRateLimit('registerUpload', { times: 2 });
    const withHeader = await call(base, 'POST', REGISTER, { body });
    assert.equal(withHeader.status, 429);
    assert.equal(withHeader.headers['retry-after'], '7');
    assert.equal(withHeader.json<ErrorOut>().errors.code, 'RATE_LIMIT_EXCEEDED');
    for (let i = 0; i < 2; i++) {
      const without = await call(base, 'POST', REGISTER, { body });
      assert.equal(without.status, 429);
      assert.equal(without.headers['retry-after'], undefined);
      assert.equal(without.json<ErrorOut>().errors.code, 'RATE_LIMIT_EXCEEDED');
    }
    assert.equal(sim.items('acme', 'line-1').length, 0);
    assert.equal((await call(base, 'POST', REGISTER, { body })).status, 200);
  });

  it('revokeApiKey makes the key answer 401 from then on; reset restores it', async (t) => {
    const [sim, base] = await started(t, baseOptions(clock));
    const reg = await call(base, 'POST', REGISTER, { body: registerBody('line-1', [localFile('a.jpg')]) });
    const id = uploadIdOf(reg);
    sim.revokeApiKey('sim-api-key-1');
    const denied = await call(base, 'GET', sign(id));
    assert.equal(denied.status, 401);
    assert.equal(denied.json<ErrorOut>().errors.code, 'NOT_AUTHENTICATED');
    sim.reset();
    assert.equal((await call(base, 'GET', '/api/users/token_info')).status, 200);
  });

  it('setRemainingStorage exhausts storage in the middle of a run: 429 INSUFFICIENT_REMAINING_STORAGE', async (t) => {
    const [sim, base] = await started(t, baseOptions(clock));
    const reg = await call(base, 'POST', REGISTER, {
      body: registerBody('line-1', [localFile('a.jpg'), localFile('b.jpg')]),
    });
    const [a, b] = [uploadIdOf(reg, 0), uploadIdOf(reg, 1)];
    assert.equal(await put(await signedUrl(base, 'acme', a), Buffer.alloc(10)), 200);
    sim.setRemainingStorage('acme', 5);
    const full = await call(base, 'POST', confirm(a), { body: {} });
    assert.equal(full.status, 429);
    assert.deepEqual(full.json(), { errors: { code: 'INSUFFICIENT_REMAINING_STORAGE' } });
    sim.setRemainingStorage('acme', 0);
    const more = await call(base, 'POST', REGISTER, { body: registerBody('line-1', [localFile('c.jpg')]) });
    assert.equal(more.status, 429);
    sim.setRemainingStorage('acme', undefined);
    assert.equal((await call(base, 'POST', confirm(a), { body: {} })).status, 200);
    assert.equal(sim.upload(b)?.slot.status, 'awaiting_upload');
  });
});
