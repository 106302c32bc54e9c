/**
 * `cdk synth` with an Edge Impulse destination: its queue, DLQ and forwarder, with the plug-in's batching
 * (up to 1000 files gathered for a short window) and timeouts that fit together.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { edgeImpulse } from '../../lambdas/vendors/edge-impulse/index.ts';
import { fullConfig } from './fixtures.ts';
import { logicalIdOf, synth } from './helpers.ts';

describe('an Edge Impulse destination in the stack', () => {
  const s = synth(fullConfig());
  const f = s.stack.forwarders.get('edge-impulse');
  assert.ok(f, 'no Edge Impulse forwarder');
  const fn = s.json.Resources[logicalIdOf(s, f.function.function)];
  const queue = s.json.Resources[logicalIdOf(s, f.consumer.queue)];
  const dlq = s.json.Resources[logicalIdOf(s, f.consumer.deadLetterQueue)];
  const mapping = Object.values(s.json.Resources).find(
    (r) =>
      r.Type === 'AWS::Lambda::EventSourceMapping' &&
      JSON.stringify(r.Properties.FunctionName) ===
        JSON.stringify({ Ref: logicalIdOf(s, f.function.function) }),
  );
  const infra = edgeImpulse.infra ?? {};

  it('creates its own queue, DLQ and forwarder function for the vendor', () => {
    assert.ok(fn && queue && dlq && mapping);
    const env = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    assert.equal(env.RELAY_VENDOR, 'edge-impulse');
    assert.deepEqual(
      (queue.Properties.RedrivePolicy as { deadLetterTargetArn: unknown }).deadLetterTargetArn,
      { 'Fn::GetAtt': [logicalIdOf(s, f.consumer.deadLetterQueue), 'Arn'] },
    );
    assert.deepEqual(mapping?.Properties.EventSourceArn, {
      'Fn::GetAtt': [logicalIdOf(s, f.consumer.queue), 'Arn'],
    });
  });

  it("gathers up to 1000 files for the plug-in's short window", () => {
    assert.equal(mapping?.Properties.BatchSize, 1000);
    assert.equal(mapping?.Properties.MaximumBatchingWindowInSeconds, infra.batchingWindowSeconds);
    assert.ok((infra.batchingWindowSeconds ?? 0) >= 1, 'Lambda needs ≥ 1 s for a batch above 10');
    assert.deepEqual(mapping?.Properties.FunctionResponseTypes, ['ReportBatchItemFailures']);
  });

  it('timeouts fit: visibility ≥ 6 × the function timeout + the window; a full request ≤ a quarter of it', () => {
    const timeout = fn?.Properties.Timeout as number;
    assert.equal(timeout, infra.timeoutSeconds);
    const visibility = queue?.Properties.VisibilityTimeout as number;
    assert.ok(visibility >= 6 * timeout + (infra.batchingWindowSeconds ?? 0), `visibility ${visibility}`);
    const each = Math.floor((edgeImpulse.maxBatchBytes ?? 0) / 1000);
    const full = Array.from({ length: 1000 }, (_, i) => ({
      deliveryId: `d${i}`,
      destination: 'ei-training',
      object: { bucket: 'b', key: `k${i}`, etag: 'e', size: each },
      fields: {},
      attempt: 1,
      ambiguousSends: 0,
    }));
    assert.ok((edgeImpulse.sendBudgetMs?.(full) ?? 0) <= (timeout * 1000) / 4);
  });
});
