/**
 * The forwarder core with in-memory ports: how jobs are grouped for batching vendors (count, bytes, group key),
 * a group that cannot finish in the invocation's time left, and a group's claims and outcomes made several at
 * once without mixing jobs up.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { recorded } from '#commons/errors.ts';
import { createLogger } from '#commons/logger.ts';
import { MAX_RETRY_DELAY_MS } from '#domain/backoff.ts';
import type { DataTransmit, RelayConfig } from '#domain/config/types.ts';
import { type DeliveryMessage, deliveryKey } from '#domain/delivery.ts';
import {
  type FinishUpdate,
  type ForwarderDeps,
  type ForwarderPorts,
  forwardBatch,
  groupJobs,
  type QueueRecord,
} from '#domain/forward.ts';
import type { DeliveryStatus } from '#domain/status.ts';
import type { DeliveryOutcome, VendorContext, VendorPlugin } from '#vendors/types.ts';

const transmit: DataTransmit = {
  transmit_name: 'd',
  transmit_type: 'fake',
  filter_stream: ['*'],
  base_url: 'http://127.0.0.1:9',
  fields: {},
};
const config: RelayConfig = { version: 1, data_receiver: [], data_transmit: [transmit] };

function message(i: number, size = 100, fields = {}): DeliveryMessage {
  const object = { bucket: 'b', key: `k/${i}.jpg`, etag: `e${i}`, size };
  return { v: 1, ...deliveryKey(object, 'd'), destination: 'd', vendor: 'fake', object, fields };
}
const record = (m: DeliveryMessage, i: number): QueueRecord => ({
  messageId: `m${i}`,
  receiptHandle: `r${i}`,
  body: JSON.stringify(m),
  receiveCount: 1,
});

/** A status table and a queue in memory, with counts of what the core asked of them. */
function fakePorts() {
  const status = new Map<string, DeliveryStatus>();
  const finished = new Map<string, FinishUpdate>();
  const released: Array<{ receipt: string; delayMs: number }> = [];
  const pauses: string[] = [];
  const claims = { inFlight: 0, max: 0, count: 0 };
  const ports: ForwarderPorts = {
    async claim(key) {
      claims.count++;
      claims.inFlight++;
      claims.max = Math.max(claims.max, claims.inFlight);
      await new Promise((r) => setTimeout(r, 2));
      claims.inFlight--;
      status.set(key.pk, 'SENDING');
      return { kind: 'claimed', record: { attempts: 1, ambiguousSends: 0 } };
    },
    adopt: async () => true,
    async finish(key, _owner, _destination, update) {
      status.set(key.pk, update.status);
      finished.set(key.pk, update);
      return true;
    },
    async hold(key) {
      status.set(key.pk, 'HELD');
      return true;
    },
    destinationState: async () => ({ paused: false }),
    async pauseDestination(name) {
      pauses.push(name);
    },
    takeProbe: async () => false,
    resumeDestination: async () => undefined,
    async retryLater(receipt, delayMs) {
      released.push({ receipt, delayMs });
    },
    deadLetter: async () => undefined,
    forgetApiKey: () => undefined,
  };
  return { ports, status, finished, released, pauses, claims };
}

function plugin(over: Partial<VendorPlugin>): VendorPlugin {
  return {
    id: 'fake',
    displayName: 'Fake',
    fieldsSchema: {},
    optionsSchema: {},
    deliver: async (jobs) => jobs.map(() => ({ kind: 'accepted', status: 'UPLOADED' })),
    ...over,
  };
}

function run(
  p: VendorPlugin,
  msgs: DeliveryMessage[],
  remainingMs = 60_000,
  ctx = {} as VendorContext,
  over: Partial<ForwarderDeps> = {},
) {
  const fake = fakePorts();
  const result = forwardBatch(
    msgs.map(record),
    {
      plugin: p,
      config,
      ports: fake.ports,
      context: () => ctx,
      log: createLogger({}, { level: 'error', sink: () => {} }),
      owner: 'me',
      ...over,
    },
    { remainingMs: () => remainingMs },
  );
  return result.then((r) => ({ ...fake, failures: r.failures }));
}

describe('forwarder: groups for batching vendors', () => {
  const items = (sizes: number[], label = (_i: number) => 'a') =>
    sizes.map((size, i) => ({ msg: message(i, size, { label: label(i) }) }));
  const sizesOf = (groups: Array<Array<{ msg: DeliveryMessage }>>) =>
    groups.map((g) => g.map((x) => x.msg.object.size));

  it('at most maxBatch jobs and maxBatchBytes bytes a group; a larger job goes alone', () => {
    const p = { maxBatch: 3, maxBatchBytes: 100 };
    assert.deepEqual(sizesOf(groupJobs(items([10, 10, 10, 10]), transmit, p)), [[10, 10, 10], [10]]);
    assert.deepEqual(sizesOf(groupJobs(items([60, 30, 20, 150, 5]), transmit, p)), [
      [60, 30],
      [20],
      [150],
      [5],
    ]);
  });
  it('never mixes group keys, in the order jobs came', () => {
    const groups = groupJobs(
      items([1, 1, 1, 1, 1], (i) => (i % 2 ? 'odd' : 'even')),
      transmit,
      {
        maxBatch: 10,
        groupKey: (job) => String(job.fields.label),
      },
    );
    assert.deepEqual(
      groups.map((g) => g.map((x) => x.msg.object.key)),
      [
        ['k/0.jpg', 'k/2.jpg', 'k/4.jpg'],
        ['k/1.jpg', 'k/3.jpg'],
      ],
    );
  });
  it('without maxBatch, one job a call', () => {
    assert.equal(groupJobs(items([1, 1, 1]), transmit, {}).length, 3);
  });
});

describe('forwarder: the time a group needs', () => {
  const slow = plugin({ maxBatch: 10, sendBudgetMs: (jobs) => 1_000 * jobs.length });

  it('a group that cannot finish before the invocation ends goes back to the queue unclaimed', async () => {
    let delivered = 0;
    const p = plugin({
      ...slow,
      deliver: async (jobs) => {
        delivered += jobs.length;
        return [];
      },
    });
    const msgs = [message(1), message(2), message(3)];
    // 3 jobs need 3 s; 3 s + the core's safety margin is more than the 5 s left
    const r = await run(p, msgs, 5_000);
    assert.equal(delivered, 0);
    assert.equal(r.claims.count, 0, 'nothing claimed: no attempt spent');
    assert.deepEqual(r.failures.sort(), ['m0', 'm1', 'm2']);
    assert.deepEqual(
      r.released.map((x) => x.delayMs),
      [0, 0, 0],
    );
  });
  it('is sent when the invocation has that long left', async () => {
    const r = await run(slow, [message(1), message(2), message(3)], 60_000);
    assert.deepEqual(r.failures, []);
    assert.deepEqual([...r.status.values()], ['UPLOADED', 'UPLOADED', 'UPLOADED']);
  });
});

describe('forwarder: one group of many jobs', () => {
  it('claims several at once and records each outcome on its own delivery', async () => {
    const outcome = (i: number): DeliveryOutcome =>
      i % 3 === 0
        ? { kind: 'accepted', status: 'UPLOADED', vendorRef: `s${i}` }
        : i % 3 === 1
          ? { kind: 'present', error: recorded('DUPLICATE', `dup ${i}`) }
          : { kind: 'rejected', error: recorded('SAMPLE_REJECTED', `bad ${i}`) };
    const seen: string[] = [];
    const p = plugin({
      maxBatch: 100,
      deliver: async (jobs) => {
        seen.push(...jobs.map((j) => j.object.key));
        return jobs.map((j) => outcome(Number(j.object.key.slice(2, -4))));
      },
    });
    const msgs = Array.from({ length: 60 }, (_, i) => message(i));
    const r = await run(p, msgs);
    assert.deepEqual(
      seen,
      msgs.map((m) => m.object.key),
      'deliver gets the jobs in their order',
    );
    assert.ok(r.claims.max > 1 && r.claims.max <= 16, `${r.claims.max} claims at once`);
    msgs.forEach((m, i) => {
      const f = r.finished.get(m.pk);
      const want = ['UPLOADED', 'ALREADY_PRESENT', 'REJECTED'][i % 3];
      assert.equal(f?.status, want, m.object.key);
      if (i % 3 === 0) assert.equal(f?.vendorRef, `s${i}`);
      if (i % 3 === 2) assert.equal(f?.error?.message, `bad ${i}`);
    });
  });
  it('pauses the destination once when several jobs answer hold', async () => {
    const p = plugin({
      maxBatch: 100,
      deliver: async (jobs) => jobs.map(() => ({ kind: 'hold', error: recorded('AUTH_FAILED', '401') })),
    });
    const r = await run(
      p,
      Array.from({ length: 20 }, (_, i) => message(i)),
    );
    assert.deepEqual(r.pauses, ['d']);
    assert.ok([...r.status.values()].every((s) => s === 'HELD'));
  });
});

describe('forwarder: an object replaced under its key', () => {
  it('is SKIPPED with a notice, not sent, when the pre-flight read finds a newer upload (unversioned bucket)', async () => {
    let delivered = 0;
    const p = plugin({
      preflight: { headBytes: 16, check: () => undefined },
      deliver: async (jobs) => {
        delivered += jobs.length;
        return jobs.map(() => ({ kind: 'accepted', status: 'UPLOADED' }));
      },
    });
    const replaced = Object.assign(
      new Error('At least one of the pre-conditions you specified did not hold'),
      {
        name: 'PreconditionFailed',
      },
    );
    const ctx = {
      objects: {
        range: async (ref: { key: string }) => {
          if (ref.key === 'k/1.jpg') throw replaced;
          return Buffer.alloc(16);
        },
      },
    } as unknown as VendorContext;
    const [gone, kept] = [message(1), message(2)];
    const r = await run(p, [gone, kept], 60_000, ctx);
    assert.deepEqual(r.failures, []);
    assert.equal(delivered, 1);
    const f = r.finished.get(gone.pk);
    assert.equal(f?.status, 'SKIPPED');
    assert.equal(f?.notice?.code, 'OBJECT_SUPERSEDED');
    assert.equal(f?.refund, true, 'no attempt spent');
    assert.equal(r.finished.get(kept.pk)?.status, 'UPLOADED');
  });
});

describe('forwarder: the time a retry is recorded for', () => {
  const now = Date.parse('2026-03-01T00:00:00.000Z');
  const retryAfter = (retryAfterMs: number) =>
    plugin({
      deliver: async (jobs) =>
        jobs.map(() => ({ kind: 'retry', error: recorded('RATE_LIMITED', '429'), retryAfterMs })),
    });
  const deps = { now: () => now, random: () => 0 };

  it('is what the queue can wait, not a Retry-After of years (the message comes back then)', async () => {
    const m = message(1);
    const r = await run(retryAfter(99_999_999_000), [m], 60_000, {} as VendorContext, deps);
    const f = r.finished.get(m.pk);
    assert.equal(f?.status, 'RETRYING');
    assert.deepEqual(r.released, [{ receipt: 'r0', delayMs: MAX_RETRY_DELAY_MS }]);
    assert.equal(f?.nextCheckAt, new Date(now + MAX_RETRY_DELAY_MS).toISOString());
  });

  it('is the whole seconds SQS waits, so the record never says earlier than the message comes back', async () => {
    const m = message(2);
    const r = await run(retryAfter(1_500), [m], 60_000, {} as VendorContext, deps);
    assert.deepEqual(r.released, [{ receipt: 'r0', delayMs: 2_000 }]);
    assert.equal(r.finished.get(m.pk)?.nextCheckAt, new Date(now + 2_000).toISOString());
  });
});
