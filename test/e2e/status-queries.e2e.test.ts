/**
 * The README's "Reading the status table" commands, run against the local stack: each `aws dynamodb query` in
 * that section is parsed from the README and sent as the same Query through the SDK (the CLI is not part of the
 * project's toolchain), so the documented commands cannot drift from the table.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { type AttributeValue, GetItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { type DeliveryRecord, fromItem } from '#domain/delivery.ts';
import { makeJpeg, makePng } from '#simulators/media/index.ts';
import { type Harness, instrumentalTransmit, startHarness } from './harness.ts';

const SLOW = { timeout: 600_000 };
let h: Harness;
let versionId = '';

/** The `aws dynamodb query` commands of the README's section, in order. */
function readmeQueries(): Array<Record<string, string>> {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(
    readme.indexOf('## Reading the status table'),
    readme.indexOf('## Vendor simulators'),
  );
  const commands = section
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .filter((l) => l.startsWith('aws dynamodb query'));
  return commands.map((cmd) => {
    const args: Record<string, string> = {};
    const re = /--([a-z-]+) (?:"([^"]*)"|'((?:[^']|'"\$VERSION"')*)'|(\S+))/g;
    for (const m of cmd.matchAll(re)) args[m[1] as string] = m[2] ?? m[3] ?? m[4] ?? '';
    return args;
  });
}

function run(args: Record<string, string>) {
  const values = (args['expression-attribute-values'] ?? '{}').replace(`'"$VERSION"'`, versionId);
  return h.stack.clients.dynamodb.send(
    new QueryCommand({
      TableName: h.stack.tableName,
      ...(args['index-name'] ? { IndexName: args['index-name'] } : {}),
      KeyConditionExpression: args['key-condition-expression'],
      ExpressionAttributeValues: JSON.parse(values) as Record<string, AttributeValue>,
      ...(args['expression-attribute-names']
        ? { ExpressionAttributeNames: JSON.parse(args['expression-attribute-names']) }
        : {}),
      ...(args['projection-expression'] ? { ProjectionExpression: args['projection-expression'] } : {}),
    }),
  );
}

before(async () => {
  h = await startHarness({
    transmits: (url) => [instrumentalTransmit('instrumental-demo', url, 'relay-tests/instrumental')],
  });
});
after(async () => {
  await h?.stop();
});

describe("README's status table queries", () => {
  it('each documented query answers from the table or an index', SLOW, async () => {
    // A delivered file, a file the forwarder rejects and one the router rejects (both of SN-1001), an unrouted key.
    const good = await h.upload('line-1/aoi-top/SN-1001_20260105T081500Z.jpg', makeJpeg({ seed: 1 }));
    versionId = good.versionId ?? '';
    assert.ok(versionId, 'the local ingest bucket is versioned');
    const png = await h.upload(
      'line-1/aoi-top/SN-1001_20260105T081600Z.jpg',
      makePng({ width: 8, height: 8 }),
    );
    const badTime = await h.upload('line-1/aoi-top/SN-1001_not-a-time.jpg', makeJpeg({ seed: 2 }));
    const unrouted = await h.upload('line-1/IMG_0042.jpg', makeJpeg({ seed: 3 }));
    await h.waitForStatus(good, ['PENDING_VALIDATION', 'UPLOADED'], 300_000);
    await h.waitForStatus(png, ['REJECTED'], 300_000);
    await h.waitForStatus(badTime, ['REJECTED'], 300_000);
    await h.waitForStatus(unrouted, ['UNROUTED'], 300_000);

    const queries = readmeQueries();
    assert.equal(queries.length, 5, 'the README documents five queries');
    const [where, bySerial, rejected, unroutedQ, held] = await Promise.all(queries.map(run));
    const items = (out: typeof where) =>
      (out?.Items ?? []).map((i) => fromItem(unmarshall(i) as DeliveryRecord));

    assert.deepEqual(
      items(where).map((i) => [i.sk, i.status]),
      [['destination#instrumental-demo', items(where)[0]?.status]],
    );
    assert.ok(['PENDING_VALIDATION', 'UPLOADED'].includes(items(where)[0]?.status ?? ''));

    const keys = (bySerial?.Items ?? []).map((i) => unmarshall(i) as { pk: string; sk: string });
    assert.equal(keys.length, 3, 'the delivered file and both rejections, found by the serial');
    // The index holds keys only: each item is read by its key, as the README says.
    const unit = await Promise.all(
      keys.map(async ({ pk, sk }) => {
        const out = await h.stack.clients.dynamodb.send(
          new GetItemCommand({ TableName: h.stack.tableName, Key: marshall({ pk, sk }) }),
        );
        return fromItem(unmarshall(out.Item ?? {}) as DeliveryRecord);
      }),
    );
    assert.deepEqual(unit.map((i) => i.key).sort(), [good.key, png.key, badTime.key].sort());
    assert.deepEqual(
      unit
        .map((i) => i.lastError?.code)
        .filter(Boolean)
        .sort(),
      ['INVALID_TIMESTAMP', 'NOT_A_JPEG'],
    );

    assert.deepEqual(
      items(rejected)
        .map((i) => i.key)
        .sort(),
      [badTime.key, png.key].sort(),
    );
    assert.deepEqual(
      items(unroutedQ).map((i) => [i.key, i.lastError?.code]),
      [[unrouted.key, 'NO_MATCHING_STREAM']],
    );
    assert.deepEqual(items(held), [], 'nothing held: the destination runs');
  });
});
