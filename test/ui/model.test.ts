/** The page's computations (ui/page/model.ts), without a browser. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  byObject,
  chartGeometry,
  FAILURE,
  groupFailures,
  newRequestId,
  orderedCounts,
  PENDING,
  restreamBodyForGroup,
  restreamBodyForStream,
  searchParamsFor,
} from '../../ui/page/model.ts';
import type { Delivery } from '../../ui/page/types.ts';

const d = (over: Partial<Delivery>): Delivery => ({
  id: 'x',
  bucket: 'b',
  key: 'k',
  status: 'REJECTED',
  createdAt: '2026-01-05T08:00:00.000Z',
  updatedAt: '2026-01-05T08:00:00.000Z',
  attempts: 1,
  ...over,
});

describe('ops page model', () => {
  test('status sets follow the relay: failures exclude UNROUTED, pending are the non-terminal statuses', () => {
    assert.deepEqual([...FAILURE].sort(), ['DEAD', 'FAILED', 'FAILED_VALIDATION', 'REJECTED', 'UNCONFIRMED']);
    assert.ok(PENDING.includes('HELD') && PENDING.includes('PROCESSING'));
    assert.ok(!PENDING.includes('UPLOADED') && !PENDING.includes('UNROUTED'));
  });

  test('counts are ordered success, pending, failure, and zeros are left out', () => {
    assert.deepEqual(orderedCounts({ REJECTED: 1, QUEUED: 0, UPLOADED: 3, HELD: 2 }), [
      ['UPLOADED', 3],
      ['HELD', 2],
      ['REJECTED', 1],
    ]);
  });

  test('the chart puts each minute in its slot, counts missing minutes as 0 and drops minutes out of the hour', () => {
    const now = new Date('2026-01-05T09:00:30Z');
    const g = chartGeometry(
      [
        { minute: '2026-01-05T09:00:00.000Z', delivered: 4, failed: 1 },
        { minute: '2026-01-05T08:01:00.000Z', delivered: 2, failed: 0 },
        { minute: '2026-01-05T07:59:00.000Z', delivered: 100, failed: 100 },
      ],
      now,
      { width: 59, height: 42, minutes: 60 },
    );
    assert.equal(g.max, 4);
    assert.deepEqual(g.totals, { delivered: 6, failed: 1 });
    const points = g.delivered.split(' ');
    assert.equal(points.length, 60);
    assert.equal(points[59], '59,1', 'the current minute at the right edge, at the top (the peak)');
    assert.equal(points[0], '0,21', '08:01 is the oldest slot, at half the peak');
    assert.equal(points[30], '30,41', 'an empty minute sits on the baseline');
    assert.equal(chartGeometry([], now).max, 1, 'an idle hour draws flat lines');
  });

  test('failures group by destination, status and code, the largest first; unrouted without a destination', () => {
    const groups = groupFailures(
      [
        d({ id: '1', destination: 'a', lastError: { code: 'X', message: 'x' } }),
        d({ id: '2', destination: 'a', lastError: { code: 'Y', message: 'y' } }),
        d({ id: '3', destination: 'a', lastError: { code: 'Y', message: 'y' } }),
        d({ id: '4', status: 'UNROUTED', lastError: { code: 'NO_MATCHING_STREAM', message: 'n' } }),
      ],
      new Set(['a|REJECTED']),
    );
    assert.deepEqual(
      groups.map((g) => [g.id, g.items.length, g.truncated]),
      [
        ['a|REJECTED|Y', 2, true],
        ['(unrouted)|UNROUTED|NO_MATCHING_STREAM', 1, false],
        ['a|REJECTED|X', 1, true],
      ],
    );
    assert.deepEqual(restreamBodyForGroup(groups[0]!, 'r1'), {
      requestId: 'r1',
      destination: 'a',
      status: 'REJECTED',
      code: 'Y',
    });
    assert.deepEqual(restreamBodyForGroup(groups[1]!, 'r2'), { requestId: 'r2', keys: ['k'] });
  });

  test("a stream restream is FactoryTX's body with the range", () => {
    assert.deepEqual(
      restreamBodyForStream(
        'factory-bucket',
        'line-1:aoi-camera',
        { since: '2026-01-05T08:00:00.000Z' },
        'r',
      ),
      {
        requestId: 'r',
        'factory-bucket': [{ asset: 'line-1', stream_type: 'aoi-camera' }],
        since: '2026-01-05T08:00:00.000Z',
      },
    );
  });

  test('the search box: a slash means a key (or the start of one), otherwise a serial', () => {
    assert.equal(searchParamsFor('  SN-1 ')?.toString(), 'serial=SN-1');
    assert.equal(searchParamsFor('line-1/aoi')?.toString(), 'key=line-1%2Faoi');
    assert.equal(searchParamsFor('   '), undefined);
  });

  test('request ids match the API pattern and differ per click', () => {
    const now = new Date('2026-01-05T08:00:00.123Z');
    const a = newRequestId(now, () => 0.5);
    assert.match(a, /^[A-Za-z0-9._-]{1,64}$/);
    assert.notEqual(
      a,
      newRequestId(now, () => 0.25),
    );
  });

  test('deliveries group by object version', () => {
    const objs = byObject([
      d({ key: 'b', destination: 'z' }),
      d({ key: 'a', versionId: '2', destination: 'y' }),
      d({ key: 'b', destination: 'a' }),
    ]);
    assert.deepEqual(
      objs.map((o) => [o.key, o.items.map((i) => i.destination)]),
      [
        ['a', ['y']],
        ['b', ['a', 'z']],
      ],
    );
  });
});
