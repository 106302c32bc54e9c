/**
 * The status table's batched claim and finish (a batching vendor's group) against DynamoDB Local: they answer
 * exactly what one claim or one finish per delivery would, in order, including records that changed under
 * them, and write the same records.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type ClaimResult, createDocumentClient, StatusTable } from '#adapters/dynamodb.ts';
import { type DeliveryKey, deliveryKey } from '#domain/delivery.ts';
import type { DeliveryStatus } from '#domain/status.ts';
import { type Emulators, startEmulators } from '#local/emulators.ts';
import { statusTableInput } from '#local/resources.ts';

let em: Emulators;
let table: StatusTable;
let client: DynamoDBClient;
let clock = Date.parse('2026-01-05T08:00:00Z');

before(async () => {
  em = await startEmulators({});
  client = new DynamoDBClient({
    endpoint: em.dynamodbEndpoint,
    region: em.region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await client.send(new CreateTableCommand(statusTableInput('status-table-test')));
  table = new StatusTable(createDocumentClient(client), 'status-table-test', () => clock);
});
after(async () => {
  client?.destroy();
  await em?.stop();
});

let n = 0;
/** A delivery record in `status`, as the router (and earlier sends) left it. */
async function delivery(
  status: 'QUEUED' | 'RETRYING_DUE' | 'RETRYING_EARLY' | 'SENDING_MINE' | 'SENDING_EXPIRED' | 'UPLOADED',
) {
  const object = { bucket: 'b', key: `k/${++n}.jpg`, etag: `e${n}`, size: 10 };
  const key = deliveryKey(object, 'd');
  await table.createDelivery({
    ...key,
    status: 'QUEUED',
    destination: 'd',
    vendor: 'v',
    ...object,
    fields: {},
  });
  if (status === 'QUEUED') return key;
  if (status === 'SENDING_EXPIRED') {
    await table.claim(key, 'dead-forwarder', 1_000);
    clock += 2_000;
    return key;
  }
  await table.claim(key, 'other', 600_000);
  if (status === 'SENDING_MINE') return key;
  const next = status === 'RETRYING_DUE' ? clock - 1_000 : clock + 600_000;
  const finalStatus: DeliveryStatus = status === 'UPLOADED' ? 'UPLOADED' : 'RETRYING';
  await table.finish(key, 'other', 'd', { status: finalStatus, nextCheckAt: new Date(next).toISOString() });
  return key;
}

const summary = (c: ClaimResult) =>
  c.kind === 'claimed'
    ? `claimed attempts=${c.record.attempts} ambiguous=${c.record.ambiguousSends ?? 0}`
    : c.kind;

describe('status table: claimMany and finishMany', () => {
  it('claims as one claim per delivery would, in order, across more than one transaction', async () => {
    const kinds = [
      'QUEUED',
      'RETRYING_DUE',
      'RETRYING_EARLY',
      'SENDING_MINE',
      'SENDING_EXPIRED',
      'UPLOADED',
    ] as const;
    const keys: DeliveryKey[] = [];
    for (let i = 0; i < 130; i++)
      keys.push(await delivery(kinds[i % kinds.length] as (typeof kinds)[number]));
    const missing = deliveryKey({ bucket: 'b', key: 'never-routed.jpg', etag: 'x', size: 1 }, 'd');
    keys.splice(7, 0, missing);

    const claims = await table.claimMany(keys, 'me', 60_000);
    assert.equal(claims.length, keys.length);
    const expected: Record<string, string> = {
      QUEUED: 'claimed attempts=1 ambiguous=0',
      RETRYING_DUE: 'claimed attempts=2 ambiguous=0',
      RETRYING_EARLY: 'early',
      SENDING_MINE: 'busy',
      SENDING_EXPIRED: 'claimed attempts=2 ambiguous=1',
      UPLOADED: 'settled',
    };
    const wanted = keys.map((k, i) =>
      k === missing ? 'missing' : (expected[kinds[(i > 7 ? i - 1 : i) % kinds.length] as string] as string),
    );
    assert.deepEqual(claims.map(summary), wanted);
    // What was written is what was answered: the records read back agree.
    for (const [i, k] of keys.entries()) {
      const c = claims[i] as ClaimResult;
      if (c.kind !== 'claimed') continue;
      const rec = await table.get(k);
      assert.equal(rec?.status, 'SENDING');
      assert.equal(rec?.leaseOwner, 'me');
      assert.equal(rec?.attempts, c.record.attempts);
      assert.equal(rec?.ambiguousSends ?? 0, c.record.ambiguousSends ?? 0);
    }
    // Claimed already: a second claimMany finds them busy.
    const again = await table.claimMany(
      keys.filter((_, i) => claims[i]?.kind === 'claimed'),
      'someone-else',
      60_000,
    );
    assert.ok(again.every((c) => c.kind === 'busy'));
  });

  it('a record that changed between the read and the write is claimed one by one, correctly', async () => {
    const keys = [await delivery('QUEUED'), await delivery('QUEUED'), await delivery('QUEUED')];
    // Another forwarder claims the second one while ours is between its read and its transaction.
    const racing = Object.assign(Object.create(Object.getPrototypeOf(table)), table) as StatusTable;
    const doc = (table as unknown as { doc: { send: (c: unknown) => Promise<unknown> } }).doc;
    let raced = false;
    (racing as unknown as { doc: unknown }).doc = {
      send: async (command: { constructor: { name: string } }) => {
        if (!raced && command.constructor.name === 'TransactWriteCommand') {
          raced = true;
          await table.claim(keys[1] as DeliveryKey, 'rival', 60_000);
        }
        return doc.send(command);
      },
    };
    const claims = await racing.claimMany(keys, 'me', 60_000);
    assert.ok(raced);
    assert.deepEqual(claims.map(summary), [
      'claimed attempts=1 ambiguous=0',
      'busy',
      'claimed attempts=1 ambiguous=0',
    ]);
    assert.equal((await table.get(keys[1] as DeliveryKey))?.leaseOwner, 'rival');
  });

  it('finishes as one finish per delivery would; a lease lost in between is not overwritten', async () => {
    const keys: DeliveryKey[] = [];
    for (let i = 0; i < 120; i++) keys.push(await delivery('QUEUED'));
    await table.claimMany(keys, 'me', 60_000);
    // One lease expired and was taken over by another forwarder.
    clock += 1_200_000;
    await table.claim(keys[5] as DeliveryKey, 'successor', 60_000);
    const done = await table.finishMany(
      keys.map((key, i) => ({
        key,
        destination: 'd',
        update: { status: 'UPLOADED' as const, vendorRef: `s${i}` },
      })),
      'me',
    );
    assert.equal(done.length, 120);
    assert.deepEqual(
      done.map((ok, i) => [i, ok]).filter(([, ok]) => !ok),
      [[5, false]],
    );
    const lost = await table.get(keys[5] as DeliveryKey);
    assert.equal(lost?.status, 'SENDING');
    assert.equal(lost?.leaseOwner, 'successor');
    const kept = await table.get(keys[6] as DeliveryKey);
    assert.equal(kept?.status, 'UPLOADED');
    assert.equal(kept?.vendorRef, 's6');
    assert.equal(kept?.leaseOwner, undefined);
    assert.deepEqual(
      kept?.history.map((h) => h.status),
      ['QUEUED', 'SENDING', 'UPLOADED'],
    );
  });
});
