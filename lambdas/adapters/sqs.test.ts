/**
 * The SQS adapter's per-message backoff: a delay longer than SQS lets a received message stay invisible is
 * clamped, so a vendor's Retry-After a day ahead does not make ChangeMessageVisibility fail.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { MAX_VISIBILITY_SECONDS, Queues, SQSClient } from './sqs.ts';

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
