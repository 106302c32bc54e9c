import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aggregate, type ChangeRecord, targetOf, UNROUTED_TARGET } from './aggregate.ts';

const PK = 'object#ingest/line-1/aoi-top/SN-1_20260105T081500Z.jpg#v=abc';
let seq = 100;
const change = (
  kind: ChangeRecord['kind'],
  sk: string,
  old: Record<string, unknown> | undefined,
  next: Record<string, unknown> | undefined,
  pk = PK,
): ChangeRecord => ({
  seq: String(seq++),
  kind,
  keys: { pk, sk },
  ...(old ? { old } : {}),
  ...(next ? { new: next } : {}),
  at: Date.parse('2026-01-05T08:15:00Z'),
});
const img = (status: string, updatedAt: string, extra: Record<string, unknown> = {}) => ({
  status,
  updatedAt,
  asset: 'line-1',
  streamType: 'aoi-camera',
  createdAt: '2026-01-05T08:15:00.000Z',
  ...extra,
});

describe('aggregate: a batch of record changes → counter deltas', () => {
  it('counts transitions: a record that moves through several statuses ends counted once, in its last', () => {
    const sk = 'destination#inst';
    const d = aggregate([
      change('INSERT', sk, undefined, img('QUEUED', '2026-01-05T08:15:00.000Z')),
      change('MODIFY', sk, img('QUEUED', 'a'), img('SENDING', '2026-01-05T08:15:01.000Z')),
      change('MODIFY', sk, img('SENDING', 'b'), img('PENDING_VALIDATION', '2026-01-05T08:15:02.000Z')),
      change('MODIFY', sk, img('PENDING_VALIDATION', 'c'), img('UPLOADED', '2026-01-05T08:16:30.000Z')),
    ]);
    assert.equal(d.destinations.length, 1);
    const inst = d.destinations[0];
    assert.deepEqual(inst?.counts, { UPLOADED: 1 });
    assert.deepEqual(inst?.minutes, { '2026-01-05T08:16': { delivered: 1, failed: 0 } });
    assert.deepEqual(inst?.lastSuccess, {
      at: '2026-01-05T08:16:30.000Z',
      key: 'line-1/aoi-top/SN-1_20260105T081500Z.jpg',
    });
    assert.deepEqual(d.streams, [
      {
        stream: 'line-1:aoi-camera',
        lastObjectAt: '2026-01-05T08:15:00.000Z',
        lastDeliveredAt: '2026-01-05T08:16:30.000Z',
        lateSidecars: 0,
      },
    ]);
  });

  it('a change that spans batches: -1 in the old status, +1 in the new', () => {
    const sk = 'destination#inst';
    const d = aggregate([
      change(
        'MODIFY',
        sk,
        img('RETRYING', 'a'),
        img('REJECTED', '2026-01-05T08:20:00.000Z', {
          lastError: { code: 'NOT_A_JPEG', message: 'not a JPEG' },
        }),
      ),
    ]);
    assert.deepEqual(d.destinations[0]?.counts, { RETRYING: -1, REJECTED: 1 });
    assert.deepEqual(d.destinations[0]?.lastError, {
      code: 'NOT_A_JPEG',
      message: 'not a JPEG',
      at: '2026-01-05T08:20:00.000Z',
      key: 'line-1/aoi-top/SN-1_20260105T081500Z.jpg',
    });
    assert.deepEqual(d.destinations[0]?.minutes, { '2026-01-05T08:20': { delivered: 0, failed: 1 } });
  });

  it('a write that changes no status counts nothing (a lease extension, a checkpoint)', () => {
    const sk = 'destination#inst';
    const d = aggregate([change('MODIFY', sk, img('SENDING', 'a'), img('SENDING', 'b'))]);
    assert.deepEqual(d.destinations, []);
  });

  it('unrouted keys count under their own target, with the time of the latest', () => {
    const d = aggregate([
      change('INSERT', 'route', undefined, {
        status: 'UNROUTED',
        updatedAt: '2026-01-05T09:00:00.000Z',
        lastError: { code: 'NO_MATCHING_STREAM', message: 'x' },
      }),
    ]);
    assert.deepEqual(d.destinations, [
      {
        target: UNROUTED_TARGET,
        counts: { UNROUTED: 1 },
        minutes: {},
        lastAt: '2026-01-05T09:00:00.000Z',
      },
    ]);
  });

  it('a late sidecar notice counts once per delivery; other items are ignored', () => {
    const sk = 'destination#inst';
    const late = { notice: { code: 'SIDECAR_LATE', message: 'late' } };
    const d = aggregate([
      change('MODIFY', sk, img('UPLOADED', 'a'), img('UPLOADED', '2026-01-05T08:30:00.000Z', late)),
      change('MODIFY', sk, img('UPLOADED', 'a', late), img('UPLOADED', '2026-01-05T08:31:00.000Z', late)),
      change('MODIFY', 'state', { paused: false }, { paused: true }, 'destination#inst'),
      change('INSERT', 'counters', undefined, { n_QUEUED: 1 }, 'stats#destination#inst'),
    ]);
    assert.equal(d.ignored, 2);
    assert.equal(d.streams[0]?.lateSidecars, 1);
    assert.equal(d.streams[0]?.lastLateSidecar?.at, '2026-01-05T08:30:00.000Z');
  });

  it('the batch id names its first and last sequence numbers', () => {
    seq = 5;
    const d = aggregate([
      change('INSERT', 'route', undefined, { status: 'UNROUTED' }),
      change('INSERT', 'route', undefined, { status: 'UNROUTED' }),
    ]);
    assert.equal(d.batchId, '5-6');
  });

  it('reads every delivery sort key', () => {
    assert.equal(targetOf('destination#a#b'), 'a#b');
    assert.equal(targetOf('route'), UNROUTED_TARGET);
    assert.equal(targetOf('restream#req-1#v7-main'), 'v7-main');
    assert.equal(targetOf('state'), undefined);
  });
});
