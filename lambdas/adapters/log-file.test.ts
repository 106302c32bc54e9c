import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { logStream } from '#domain/ops/logs.ts';
import type { LogLine } from '#domain/ops/types.ts';
import { LogFile } from './log-file.ts';

/** Older than every line below: the adapter's own filters, no time window. */
const ALL = '2026-01-01T00:00:00.000Z';

describe('LogFile: the local stack log behind GET /v1/log/stream', () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-log-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'relay.log');
  const lines = [
    { level: 'info', time: '2026-12-01T05:00:00.000Z', message: 'delivered', key: 'line-1/a b.jpg' },
    {
      _aws: {
        Timestamp: 1796101319258,
        CloudWatchMetrics: [{ Namespace: 'FactoryRelay', Dimensions: [['service', 'Destination']] }],
      },
      service: 'factory-relay',
      Destination: 'inst',
      Delivered: 3,
    },
    { level: 'warn', time: '2026-12-01T05:00:01.000Z', message: 'rejected', key: 'line-1/c.jpg' },
    { time: '2026-12-01T05:00:02.000Z', source: 'local-cli', event: 'pollError', error: 'boom' },
  ];
  writeFileSync(path, `${lines.map((l) => JSON.stringify(l)).join('\n')}\nnot json\n`);
  const logs = new LogFile(path);

  it('gives the log lines, not the EMF metric lines written beside them', async () => {
    const got = await logs.read({ limit: 100, since: ALL });
    assert.deepEqual(
      got.map((l) => l.message ?? l.event),
      ['delivered', 'rejected', 'pollError'],
    );
  });

  it('filters by key (as written, spaces and all) and by level', async () => {
    assert.deepEqual(
      (await logs.read({ key: 'line-1/a b.jpg', limit: 100, since: ALL })).map((l) => l.message),
      ['delivered'],
    );
    assert.deepEqual(
      (await logs.read({ level: 'warn', limit: 100, since: ALL })).map((l) => l.message),
      ['rejected'],
    );
  });

  it('through GET /v1/log/stream: the last hour by default, as on CloudWatch; older lines with since', async () => {
    // The last line is at 05:00:02, the one before at 05:00:01; by the ops clock (06:00:01.5) the hour began
    // at 05:00:01.5, so only the last is in it.
    const now = () => Date.parse('2026-12-01T06:00:01.500Z');
    const stream = async (query: Record<string, string>) => {
      const r = await logStream(
        { method: 'GET', routeKey: 'GET /v1/log/stream', path: {}, query, by: 'test' },
        { logs, now },
      );
      return (r.body.response as { lines: LogLine[] }).lines.map((l) => l.message ?? l.event);
    };
    assert.deepEqual(await stream({}), ['pollError']);
    assert.deepEqual(await stream({ since: '2026-12-01T05:00:00Z' }), ['delivered', 'rejected', 'pollError']);
  });

  it('a missing file is no lines', async () => {
    assert.deepEqual(await new LogFile(join(dir, 'none.log')).read({ limit: 10, since: ALL }), []);
  });
});
