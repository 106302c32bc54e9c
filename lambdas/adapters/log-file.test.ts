import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LogFile } from './log-file.ts';

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
    const got = await logs.read({ limit: 100 });
    assert.deepEqual(
      got.map((l) => l.message ?? l.event),
      ['delivered', 'rejected', 'pollError'],
    );
  });

  it('filters by key (as written, spaces and all) and by level', async () => {
    assert.deepEqual(
      (await logs.read({ key: 'line-1/a b.jpg', limit: 100 })).map((l) => l.message),
      ['delivered'],
    );
    assert.deepEqual(
      (await logs.read({ level: 'warn', limit: 100 })).map((l) => l.message),
      ['rejected'],
    );
  });

  it('a missing file is no lines', async () => {
    assert.deepEqual(await new LogFile(join(dir, 'none.log')).read({ limit: 10 }), []);
  });
});
