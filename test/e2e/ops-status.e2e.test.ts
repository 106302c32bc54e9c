/**
 * /v1/status and /v1/streams from the aggregator's counters, against the local stack: the stream reader feeds
 * the real aggregator handler from DynamoDB Local's stream, and the counts are compared with the records
 * themselves after a demo-like run (delivered, rejected by the vendor, rejected by the router, unrouted) and
 * after the poller moved the delivered file on (a record that changed status several times counts once).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { OpsCounters } from '#adapters/dynamodb.ts';
import type { RelayConfig } from '#domain/config/types.ts';
import { buildStatus, type StatusDeps } from '#domain/ops/status.ts';
import { buildStreams } from '#domain/ops/streams.ts';
import type { DeliveryStatus } from '#domain/status.ts';
import { makeJpeg, makePng } from '#simulators/media/index.ts';
import { type Harness, instrumentalTransmit, startHarness, type Uploaded } from './harness.ts';

const SLOW = { timeout: 600_000 };
let h: Harness;
let config: RelayConfig;

before(async () => {
  h = await startHarness({
    transmits: (url) => [instrumentalTransmit('inst', url, 'relay-tests/instrumental')],
    // Silent "for longer than 1 s" soon after the last upload: the marker shows without waiting long.
    stream: { expected_interval: '1s' },
    stack: { pollEveryMs: 60_000 },
  });
  config = JSON.parse(h.stack.env.RELAY_CONFIG_JSON ?? '{}') as RelayConfig;
});
after(async () => {
  await h?.stop();
});

function relayTable() {
  const table = h.stack.clients.relay.table;
  if (!table) throw new Error('the stack has no DynamoDB');
  return table;
}

function deps(): StatusDeps {
  const counters = new OpsCounters(relayTable(), h.stack.tableName);
  return {
    config,
    counters,
    destinationState: async (name) => {
      const { StatusTable } = await import('#adapters/dynamodb.ts');
      return new StatusTable(relayTable(), h.stack.tableName).destinationState(name);
    },
    dlqDepth: async (vendor) => {
      const url = h.stack.queues.vendors[vendor]?.dlq.url;
      if (!url) return undefined;
      const out = await h.stack.clients.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages'] }),
      );
      return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0);
    },
    now: Date.now,
  };
}

/** What the records say, by status: the truth the counters must match. */
async function truth(files: Uploaded[]): Promise<Partial<Record<DeliveryStatus, number>>> {
  const counts: Partial<Record<DeliveryStatus, number>> = {};
  for (const f of files)
    for (const r of await h.records(f))
      if (r.destination === 'inst') counts[r.status] = (counts[r.status] ?? 0) + 1;
  return counts;
}

describe('ops status and streams from the stream aggregator', () => {
  it(
    'counts match the records after a demo-like run, and stay right as a record moves on',
    SLOW,
    async () => {
      const good = await h.upload('line-1/aoi-top/SN-2001_20260105T081500Z.jpg', makeJpeg({ seed: 1 }));
      const png = await h.upload(
        'line-1/aoi-top/SN-2001_20260105T081600Z.jpg',
        makePng({ width: 8, height: 8 }),
      );
      const badTime = await h.upload('line-1/aoi-top/SN-2001_not-a-time.jpg', makeJpeg({ seed: 2 }));
      const unrouted = await h.upload('line-1/IMG_0042.jpg', makeJpeg({ seed: 3 }));
      await h.waitForStatus(good, ['PENDING_VALIDATION', 'UPLOADED'], 300_000);
      await h.waitForStatus(png, ['REJECTED'], 300_000);
      await h.waitForStatus(badTime, ['REJECTED'], 300_000);
      await h.waitForStatus(unrouted, ['UNROUTED'], 300_000);
      await h.stack.aggregator.settled();

      const files = [good, png, badTime];
      let status = await buildStatus(deps());
      let inst = status.destinations.find((d) => d.name === 'inst');
      assert.ok(inst);
      assert.deepEqual(inst.counts, await truth(files));
      assert.equal(inst.counts.REJECTED, 2);
      assert.equal(inst.state, 'running');
      assert.equal(inst.dlqDepth, 0);
      assert.equal(inst.lastError?.code !== undefined, true);
      assert.ok(['NOT_A_JPEG', 'INVALID_TIMESTAMP'].includes(inst.lastError?.code ?? ''));
      assert.equal(inst.perMinute.length, 60);
      assert.equal(
        inst.perMinute.reduce((n, m) => n + m.failed, 0),
        2,
        'both rejections in the last hour',
      );
      assert.equal(status.unrouted.count, 1);
      assert.ok(status.unrouted.lastAt);

      // The poller moves the delivered file on (PENDING_VALIDATION → UPLOADED): one more transition per record.
      await h.stack.runner.triggerSchedule('poller');
      await h.waitForStatus(good, ['UPLOADED'], 300_000);
      await h.stack.aggregator.settled();
      status = await buildStatus(deps());
      inst = status.destinations.find((d) => d.name === 'inst');
      assert.ok(inst);
      assert.deepEqual(inst.counts, { UPLOADED: 1, REJECTED: 2 });
      assert.equal(inst.lastSuccess?.key, good.key);
      assert.equal(
        inst.perMinute.reduce((n, m) => n + m.delivered, 0),
        1,
      );
      assert.equal(inst.oldestPendingAgeSeconds, null, 'nothing waits any more');

      // The same answers through the ops API, in FactoryTX's envelope.
      const viaApi = (await (await fetch(`${h.stack.apiUrl}/v1/status`)).json()) as {
        success: boolean;
        error: unknown;
        response: { destinations: Array<{ name: string; counts: Record<string, number> }> };
      };
      assert.equal(viaApi.success, true);
      assert.equal(viaApi.error, null);
      assert.deepEqual(viaApi.response.destinations.find((d) => d.name === 'inst')?.counts, {
        UPLOADED: 1,
        REJECTED: 2,
      });
      const streams = (await (await fetch(`${h.stack.apiUrl}/v1/streams`)).json()) as {
        success: boolean;
        response: { streams: Array<{ id: string; destinations: string[] }> };
      };
      assert.equal(streams.success, true);
      assert.deepEqual(
        streams.response.streams.map((x) => [x.id, x.destinations]),
        [['line-1:aoi-camera', ['inst']]],
      );
    },
  );

  it('streams: last object and delivery, silence over expected_interval, unrouted keys', SLOW, async () => {
    await h.stack.aggregator.settled();
    const d = deps();
    const { streams, unrouted } = await buildStreams({ ...d, now: () => Date.now() + 5_000 });
    assert.equal(streams.length, 1);
    const s = streams[0];
    assert.ok(s);
    assert.equal(s.id, 'line-1:aoi-camera');
    assert.deepEqual(s.destinations, ['inst']);
    assert.ok(s.lastObjectAt && s.lastDeliveredAt);
    const messages = s.markers.map((m) => `${m.component_type} ${m.level} ${m.message}`);
    assert.ok(
      messages.some((m) => /^Receiver warning silent for/.test(m)),
      messages.join('\n'),
    );
    // FactoryTX's names beside the relay's: stream, data_receiver; each marker names its stream and category.
    assert.equal(s.stream, 'line-1:aoi-camera');
    assert.equal(s.data_receiver, s.receiver);
    for (const m of s.markers) {
      assert.deepEqual([m.asset, m.stream_type], ['line-1', 'aoi-camera']);
      assert.ok(m.category, JSON.stringify(m));
    }
    // Unrouted keys belong to no stream: one marker beside the streams, not one on each.
    assert.ok(!messages.some((m) => /matched no stream/.test(m)), messages.join('\n'));
    assert.equal(unrouted.count, 1);
    assert.match(unrouted.marker?.message ?? '', /^1 key\(s\) in the bucket matched no stream/);
    assert.equal(unrouted.marker?.category, 'unrouted');
    // Two of three outcomes failed in the window, but fewer than 5 outcomes: no error-rate marker.
    assert.ok(!messages.some((m) => /deliveries failed/.test(m)));
    const strict = await buildStreams({ ...d, minOutcomes: 1 });
    assert.ok(
      strict.streams[0]?.markers.some(
        (m) => m.level === 'error' && /2 of 3 deliveries failed/.test(m.message),
      ),
    );
  });

  it('a stopped destination is marked, and its state shows in status', SLOW, async () => {
    const { StatusTable } = await import('#adapters/dynamodb.ts');
    const t = new StatusTable(relayTable(), h.stack.tableName);
    await t.stopDestination('inst', 'test');
    try {
      const status = await buildStatus(deps());
      assert.equal(status.destinations[0]?.state, 'stopped');
      assert.equal(status.destinations[0]?.stateReason?.code, 'DESTINATION_STOPPED');
      const { streams } = await buildStreams(deps());
      assert.ok(
        streams[0]?.markers.some(
          (m) => m.component === 'inst' && m.message.startsWith('destination stopped'),
        ),
      );
    } finally {
      await t.startDestination('inst', 'test');
    }
  });
});
