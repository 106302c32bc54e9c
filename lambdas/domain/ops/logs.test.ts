/**
 * GET /v1/log/stream (logStream): the window it asks the log backend for. `since` defaults to an hour before the
 * ops clock, decided here so the log file and CloudWatch read the same lines.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { logStream } from './logs.ts';
import type { LogFilter, OpsLogs, OpsRequest } from './types.ts';

const NOW = Date.parse('2026-01-05T12:00:00.000Z');

const req = (query: Record<string, string>): OpsRequest => ({
  method: 'GET',
  routeKey: 'GET /v1/log/stream',
  path: {},
  query,
  by: 'test',
});

/** A backend that records the filter it was asked with. */
function recording(): { logs: OpsLogs; asked: LogFilter[] } {
  const asked: LogFilter[] = [];
  return {
    asked,
    logs: {
      async read(filter) {
        asked.push(filter);
        return [];
      },
    },
  };
}

describe('logStream', () => {
  it('without since: the last hour by the injected clock, not the wall clock', async () => {
    const { logs, asked } = recording();
    const r = await logStream(req({}), { logs, now: () => NOW });
    assert.equal(r.statusCode, 200);
    assert.deepEqual(asked, [{ since: '2026-01-05T11:00:00.000Z', limit: 200 }]);
  });

  it('a given since is passed as ISO UTC, whatever the clock says', async () => {
    const { logs, asked } = recording();
    await logStream(req({ since: '2026-01-05T08:00:00+02:00', level: 'warn', limit: '5' }), {
      logs,
      now: () => NOW,
    });
    assert.deepEqual(asked, [{ since: '2026-01-05T06:00:00.000Z', level: 'warn', limit: 5 }]);
  });

  it('an empty since is the default too', async () => {
    const { logs, asked } = recording();
    await logStream(req({ since: '' }), { logs, now: () => NOW });
    assert.equal(asked[0]?.since, '2026-01-05T11:00:00.000Z');
  });
});
