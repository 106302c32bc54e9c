import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { destinationDimension } from './metric-dimension.ts';
import { METRIC, METRICS_NAMESPACE, metricOfStatus, RelayMetrics } from './metrics.ts';

/** The EMF lines written to stdout while `fn` runs. */
function emfLines(fn: () => void): Array<Record<string, unknown>> {
  const lines: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  try {
    fn();
  } finally {
    process.stdout.write = write;
  }
  return lines
    .join('')
    .split('\n')
    .filter((l) => l.includes('"_aws"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('EMF metrics per destination', () => {
  it('one EMF line per destination, each with its own Destination dimension and values', () => {
    const m = new RelayMetrics();
    m.status('inst', 'PENDING_VALIDATION');
    m.status('inst', 'PENDING_VALIDATION');
    m.status('inst', 'REJECTED');
    m.latency('inst', 120);
    m.status('v7', 'ALREADY_PRESENT');
    m.status('v7', 'SENDING'); // no metric for an intermediate status
    const lines = emfLines(() => m.flush());
    assert.equal(lines.length, 2);
    const inst = lines.find((l) => l.Destination === 'inst');
    const v7 = lines.find((l) => l.Destination === 'v7');
    assert.ok(inst && v7);
    assert.equal(inst.Delivered, 2, 'counts are added up into one value');
    assert.equal(inst.Rejected, 1);
    assert.equal(inst.VendorLatency, 120);
    assert.equal(v7.Duplicate, 1);
    assert.equal(v7.Delivered, undefined);
    const meta = (inst._aws as { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][] }> })
      .CloudWatchMetrics[0];
    assert.equal(meta?.Namespace, METRICS_NAMESPACE);
    assert.deepEqual(meta?.Dimensions[0]?.slice().sort(), ['Destination', 'service']);
    assert.deepEqual(
      emfLines(() => m.flush()),
      [],
      'a flush starts afresh',
    );
  });

  it('a batch of 1000 deliveries is one line with its totals, not ten lines of [1,1,…]', () => {
    const m = new RelayMetrics();
    for (let i = 0; i < 1000; i++) m.status('ei', i % 10 === 0 ? 'ALREADY_PRESENT' : 'UPLOADED');
    for (let i = 0; i < 3; i++) m.latency('ei', 200 + i);
    const lines = emfLines(() => m.flush());
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.Delivered, 900);
    assert.equal(lines[0]?.Duplicate, 100);
    assert.deepEqual(lines[0]?.VendorLatency, [200, 201, 202], 'latencies stay one value per call');
  });

  it('a non-ASCII destination name is written as its ASCII dimension value (CloudWatch drops the line otherwise)', () => {
    const name = 'Prüfstand Linie 1 → QS';
    const m = new RelayMetrics();
    m.status(name, 'UPLOADED');
    m.gauge(name, METRIC.paused, 1);
    const lines = emfLines(() => m.flush());
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.Destination, destinationDimension(name));
    assert.match(String(lines[0]?.Destination), /^[\x20-\x7e]+$/);
    assert.equal(lines[0]?.Delivered, 1);
  });

  it('maps every outcome the issue names', () => {
    assert.equal(metricOfStatus('UPLOADED'), METRIC.delivered);
    assert.equal(metricOfStatus('FAILED_VALIDATION'), METRIC.rejected);
    assert.equal(metricOfStatus('RETRYING'), METRIC.retried);
    assert.equal(metricOfStatus('UNCONFIRMED'), METRIC.dead);
    assert.equal(metricOfStatus('SKIPPED'), METRIC.duplicate);
    assert.equal(metricOfStatus('QUEUED'), undefined);
  });
});
