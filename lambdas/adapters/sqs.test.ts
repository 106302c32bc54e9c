/**
 * The SQS adapter's per-message backoff: a delay longer than SQS lets a received message stay invisible is
 * clamped, so a vendor's Retry-After a day ahead does not make ChangeMessageVisibility fail; and sends split
 * into calls SQS takes (10 entries, 256 KiB in all).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { MAX_MESSAGE_BYTES } from '#domain/delivery.ts';
import { MAX_VISIBILITY_SECONDS, Queues, SQSClient, sendBatches } from './sqs.ts';

class RecordingClient extends SQSClient {
  readonly calls: Array<{ operation: string; input: Record<string, unknown> }> = [];
  override call<T>(operation: string, input: Record<string, unknown>): Promise<T> {
    this.calls.push({ operation, input });
    return Promise.resolve({} as T);
  }
}

it('clamps a visibility delay under the 12 h SQS counts from the receive, in whole seconds, never negative', async () => {
  const client = new RecordingClient({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9' });
  const queues = new Queues(client);
  await queues.retryLater('q', 'h', 86_400_000);
  await queues.retryLater('q', 'h', 1_500);
  await queues.retryLater('q', 'h', -5);
  const seconds = client.calls.map((c) => c.input.VisibilityTimeout);
  assert.deepEqual(seconds, [MAX_VISIBILITY_SECONDS, 2, 0]);
  // Asked up to 15 minutes (Lambda's longest run) after the receive, it still ends within 12 h of it.
  assert.ok(MAX_VISIBILITY_SECONDS + 900 <= 43_200);
  client.destroy();
});

it('splits sends at 10 entries and at 256 KiB of bodies per call', () => {
  const small = Array.from({ length: 25 }, (_, i) => ({ id: String(i), body: 'x' }));
  assert.deepEqual(
    sendBatches(small).map((b) => b.length),
    [10, 10, 5],
  );
  const large = Array.from({ length: 10 }, (_, i) => ({ id: String(i), body: 'y'.repeat(30_000) }));
  const calls = sendBatches(large);
  assert.deepEqual(
    calls.map((b) => b.length),
    [8, 2],
  );
  for (const c of calls) assert.ok(c.reduce((n, b) => n + b.body.length, 0) <= MAX_MESSAGE_BYTES);
  assert.deepEqual(calls.flat(), large, 'every body once, in order');
});
