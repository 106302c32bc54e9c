/**
 * The CloudWatch Logs reader against a fake FilterLogEvents that answers as the service does: events in
 * [startTime, endTime] of one group, oldest first, `limit` a page, a nextToken while more remain.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CloudWatchLogs, type LogsClient } from './cloudwatch-logs.ts';

const NOW = Date.parse('2026-01-05T12:00:00.000Z');
/** What the domain (logStream) passes when no `since` is asked: an hour before its clock. */
const HOUR_AGO = new Date(NOW - 3_600_000).toISOString();

interface Event {
  timestamp: number;
  message: string;
}

function fakeLogs(groups: Record<string, Event[]>) {
  const calls: Array<Record<string, unknown>> = [];
  const client: LogsClient = {
    async json<T>(_target: string, _version: string, input: Record<string, unknown>): Promise<T> {
      calls.push(input);
      const all = (groups[String(input.logGroupName)] ?? [])
        .filter(
          (e) =>
            e.timestamp >= Number(input.startTime ?? 0) &&
            e.timestamp <= Number(input.endTime ?? Number.MAX_SAFE_INTEGER),
        )
        .sort((a, b) => a.timestamp - b.timestamp);
      const from = Number(input.nextToken ?? 0);
      const limit = Number(input.limit ?? 10_000);
      const events = all.slice(from, from + limit);
      const more = from + limit < all.length;
      return { events, ...(more ? { nextToken: String(from + limit) } : {}) } as T;
    },
  };
  return { client, calls };
}

/** One JSON log line a second, from `fromMs` to `toMs`, its message its time. */
function lines(fromMs: number, toMs: number, everyMs: number, extra: Record<string, unknown> = {}): Event[] {
  const out: Event[] = [];
  for (let t = fromMs; t <= toMs; t += everyMs) {
    const time = new Date(t).toISOString();
    out.push({ timestamp: t, message: JSON.stringify({ time, level: 'info', message: time, ...extra }) });
  }
  return out;
}

describe('CloudWatchLogs.read', () => {
  it('answers the newest lines of every group, oldest of them first, not the first lines of the hour', async () => {
    const { client } = fakeLogs({
      router: [
        ...lines(NOW - 3_600_000, NOW - 1000, 1000),
        { timestamp: NOW - 500, message: 'START RequestId: x' },
      ],
      forwarder: lines(NOW - 3_600_000 + 500, NOW - 500, 1000),
    });
    const got = await new CloudWatchLogs(['router', 'forwarder'], client, () => NOW).read({
      limit: 5,
      since: HOUR_AGO,
    });
    assert.deepEqual(
      got.map((l) => l.message),
      [NOW - 2500, NOW - 2000, NOW - 1500, NOW - 1000, NOW - 500].map((t) => new Date(t).toISOString()),
    );
  });

  it('a busy window is narrowed to its newer half; calls stay bounded', async () => {
    // 20 lines a second for the last 10 minutes: far more than a few pages of 1000.
    const { client, calls } = fakeLogs({ router: lines(NOW - 600_000, NOW, 50) });
    const got = await new CloudWatchLogs(['router'], client, () => NOW).read({ limit: 3, since: HOUR_AGO });
    assert.deepEqual(
      got.map((l) => l.message),
      [NOW - 100, NOW - 50, NOW].map((t) => new Date(t).toISOString()),
    );
    assert.ok(calls.length <= 40, `${calls.length} calls`);
  });

  it('goes back past quiet minutes to since, and filters by level and key', async () => {
    const { client } = fakeLogs({
      router: [
        ...lines(NOW - 50 * 60_000, NOW - 50 * 60_000, 1000, { level: 'error', key: 'a/b.jpg' }),
        ...lines(NOW - 40 * 60_000, NOW - 40 * 60_000, 1000, { level: 'info', key: 'a/b.jpg' }),
        ...lines(NOW - 70 * 60_000, NOW - 70 * 60_000, 1000, { level: 'error', key: 'a/b.jpg' }),
      ],
    });
    const reader = new CloudWatchLogs(['router'], client, () => NOW);
    const errors = await reader.read({ limit: 10, level: 'error', key: 'a/b.jpg', since: HOUR_AGO });
    assert.deepEqual(
      errors.map((l) => l.time),
      [new Date(NOW - 50 * 60_000).toISOString()],
      'nothing before since',
    );
    const since = new Date(NOW - 2 * 3_600_000).toISOString();
    assert.equal((await reader.read({ limit: 10, level: 'error', since })).length, 2);
  });
});
