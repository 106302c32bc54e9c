/**
 * Never wedged, never stranded: a destination whose credentials cannot be used — refused by the vendor, or
 * missing, unreadable or malformed before any request — holds its deliveries in the status table for as long as
 * that lasts (here far longer than the vendor queue's redrive limit), spends no attempt, sends no request it
 * cannot make, and delivers everything once the secret is fixed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CreateSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import type { DeliveryRecord } from '#domain/delivery.ts';
import { makeJpeg } from '#simulators/media/index.ts';
import { type Harness, instrumentalTransmit, startHarness, TEST_KEYS, type Uploaded } from './harness.ts';

const SLOW = { timeout: 900_000 };
/** Destination → (secret value at start, or undefined for a secret that does not exist; the code it holds with). */
const BROKEN: Record<string, { secret?: string; code: string }> = {
  refused: { secret: 'relay-tests:ci:INST:V1:revoked-key:not-a-real-secret', code: 'AUTH_FAILED' },
  newline: { secret: `${TEST_KEYS.main}\n`, code: 'CREDENTIALS_MALFORMED' },
  missing: { code: 'CREDENTIALS_MISSING' },
  'json-no-key': { secret: '{"token":"not-the-field-we-read"}', code: 'CREDENTIALS_MALFORMED' },
  'wrong-shape': { secret: 'fake-key-id', code: 'CREDENTIALS_MALFORMED' },
};
/**
 * A redrive limit of 2 receives, 3 s apart. The visibility timeout stays above a forwarder batch's time on a loaded
 * machine (on AWS it is 6 × the function timeout): a shorter one would redeliver messages still being handled.
 */
const REDRIVE = { maxReceiveCount: 2, visibilityTimeoutSeconds: 3 };
let h: Harness;

before(async () => {
  h = await startHarness({
    relay: { pause_probe_seconds: 1 },
    transmits: (url) =>
      Object.keys(BROKEN).map((name) => instrumentalTransmit(name, url, `relay-tests/${name}`)),
    stack: {
      secrets: Object.fromEntries(
        Object.entries(BROKEN).flatMap(([name, b]) =>
          b.secret === undefined ? [] : [[`relay-tests/${name}`, b.secret]],
        ),
      ),
      // A pause that depended on the queue would strand everything after 2 receives.
      queues: { vendors: REDRIVE },
      forwarder: { functionTimeoutMs: 10_000 },
    },
  });
});
after(async () => {
  await h?.stop();
});

const byDest = (recs: DeliveryRecord[]) => new Map(recs.map((r) => [r.destination ?? '', r]));

describe('held destinations', () => {
  it(
    'hold for ten times the redrive limit without a request they cannot make, then deliver everything',
    SLOW,
    async () => {
      const objs: Uploaded[] = [];
      for (let i = 0; i < 6; i++) {
        objs.push(
          await h.upload(
            `line-1/HOLD/SN-H${i}_20260105T100000Z.jpg`,
            makeJpeg({ width: 8, height: 8, seed: 300 + i }),
          ),
        );
      }
      for (const obj of objs) {
        // The records as read when all five are HELD: the refused destination's probes take one out now and
        // then (SENDING, its attempt counted until the 401 gives it back), so a later read may catch one.
        const recs = byDest(
          await h.waitFor(obj, (r) => r.length === 5 && r.every((x) => x.status === 'HELD'), 300_000),
        );
        for (const [name, b] of Object.entries(BROKEN)) {
          const rec = recs.get(name);
          assert.equal(rec?.attempts, 0, `${name}: a held delivery spends no attempt`);
          assert.ok(
            [b.code, 'DESTINATION_PAUSED'].includes(rec?.lastError?.code ?? ''),
            `${name}: held with ${JSON.stringify(rec?.lastError)}`,
          );
        }
      }
      // Keep it broken while the refused destination's probes (one per second) come and go: sixty of them is ten
      // times the redrive limit (2 receives, 3 s apart). The probes are the clock, not a sleep.
      await waitUntil(
        () => h.sim.requestsTo('ingestImage').filter((r) => r.status === 401).length >= 60,
        300_000,
      );
      // Only the refused key was ever sent (each send refused); the unusable ones never made a request.
      const statuses = h.sim.requestsTo('ingestImage').map((r) => r.status);
      assert.deepEqual([...new Set(statuses)], [401], "no request but the refused key's");
      assert.equal(await dlqDepth(), 0, 'nothing went to the dead-letter queue');

      // The operator fixes every secret; no restart, no cache to wait out.
      for (const [name, b] of Object.entries(BROKEN)) {
        const SecretId = `relay-tests/${name}`;
        if (b.secret === undefined)
          await h.stack.clients.secrets.send(
            new CreateSecretCommand({ Name: SecretId, SecretString: TEST_KEYS.main }),
          );
        else
          await h.stack.clients.secrets.send(
            new PutSecretValueCommand({ SecretId, SecretString: TEST_KEYS.main }),
          );
      }
      for (const obj of objs) {
        const recs = await h.waitFor(
          obj,
          (all) =>
            all.length === 5 && all.every((r) => ['PENDING_VALIDATION', 'UPLOADED'].includes(r.status)),
          600_000,
        );
        for (const r of recs) {
          assert.equal(r.attempts, 1, `${r.destination}: delivered on its first attempt`);
          assert.ok(r.history.some((x) => x.status === 'HELD'));
        }
      }
      assert.equal(await dlqDepth(), 0);
    },
  );
});

async function waitUntil(cond: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function dlqDepth(): Promise<number> {
  const q = h.stack.queues.vendors.instrumental;
  assert.ok(q);
  const out = await h.stack.clients.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: q.dlq.url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}
