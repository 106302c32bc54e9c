/**
 * A destination removed from the config leaves no delivery waiting for ever: the poller (through the real status
 * table on DynamoDB Local) settles its HELD, RECEIVED and accepted deliveries with DESTINATION_REMOVED, leaves
 * the configured destinations' alone, and forgets the name once none are left.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createDocumentClient, StatusTable } from '#adapters/dynamodb.ts';
import { createLogger } from '#commons/logger.ts';
import type { DataTransmit, RelayConfig } from '#domain/config/types.ts';
import { deliveryKey } from '#domain/delivery.ts';
import { type PollerDeps, pollDue } from '#domain/poll.ts';
import type { DeliveryStatus } from '#domain/status.ts';
import type { VendorContext, VendorPlugin } from '#vendors/types.ts';
import { type DynamoDbLocal, startDynamoDbLocal } from '../../local/dynamodb-local.ts';
import { statusTableInput } from '../../local/resources.ts';

let ddb: DynamoDbLocal;
let table: StatusTable;
const creds = { accessKeyId: 'local', secretAccessKey: 'local' };

before(async () => {
  ddb = await startDynamoDbLocal();
  const raw = new DynamoDBClient({ endpoint: ddb.endpoint, region: 'us-east-1', credentials: creds });
  await raw.send(new CreateTableCommand(statusTableInput('removed')));
  raw.destroy();
  table = new StatusTable(
    createDocumentClient({ endpoint: ddb.endpoint, region: 'us-east-1', credentials: creds }),
    'removed',
  );
});
after(async () => ddb?.stop());

const plugin: VendorPlugin = {
  id: 'fake',
  displayName: 'Fake',
  fieldsSchema: {},
  optionsSchema: {},
  deliver: async () => [],
};
const transmit = (name: string): DataTransmit => ({
  transmit_name: name,
  transmit_type: 'fake',
  filter_stream: ['*'],
  base_url: 'http://127.0.0.1:9',
  fields: {},
});
const configOf = (names: string[]): RelayConfig => ({
  version: 1,
  data_receiver: [],
  data_transmit: names.map(transmit),
});

function poll(config: RelayConfig) {
  const deps: PollerDeps = {
    config,
    vendors: { fake: plugin },
    log: createLogger({}, { level: 'error', sink: () => {} }),
    context: () => ({}) as VendorContext,
    ports: {
      due: (d, s, l, b) => table.due(d, s, l, b),
      applyCheck: (r, u) => table.applyCheck(r, u),
      destinationState: (n) => table.destinationState(n),
      knownDestinations: () => table.knownDestinations(),
      rememberDestination: (n) => table.rememberDestination(n),
      forgetDestination: (n) => table.forgetDestination(n),
    },
  };
  return pollDue(deps, AbortSignal.timeout(60_000));
}

async function delivery(key: string, destination: string, status: DeliveryStatus) {
  const object = { bucket: 'b', key, etag: 'e', size: 1 };
  await table.createDelivery({
    ...deliveryKey(object, destination),
    ...object,
    destination,
    vendor: 'fake',
    status,
    ...(status === 'PENDING_VALIDATION' ? { vendorRef: 'v1', nextCheckAt: '2026-01-01T00:00:00.000Z' } : {}),
  });
  return deliveryKey(object, destination);
}

it("settles a removed destination's waiting deliveries, keeps the others', then forgets the name", async () => {
  await poll(configOf(['kept', 'gone']));
  assert.deepEqual((await table.knownDestinations()).sort(), ['gone', 'kept']);

  const held = await delivery('k/held.jpg', 'gone', 'HELD');
  const received = await delivery('k/received.jpg', 'gone', 'RECEIVED');
  const accepted = await delivery('k/accepted.jpg', 'gone', 'PENDING_VALIDATION');
  const keptHeld = await delivery('k/kept.jpg', 'kept', 'HELD');

  // The destination `gone` is removed from the config.
  await poll(configOf(['kept']));
  const status = async (k: { pk: string; sk: string }) => {
    const r = await table.get(k);
    return `${r?.status} ${r?.lastError?.code ?? ''}`.trim();
  };
  assert.equal(await status(held), 'REJECTED DESTINATION_REMOVED');
  assert.equal(await status(received), 'REJECTED DESTINATION_REMOVED');
  assert.equal(await status(accepted), 'FAILED DESTINATION_REMOVED');
  assert.equal(
    await status(keptHeld),
    'HELD',
    "a configured destination's delivery is the poller's to release",
  );
  assert.deepEqual((await table.knownDestinations()).sort(), ['gone', 'kept'], 'kept until a run finds none');

  await poll(configOf(['kept']));
  assert.deepEqual(await table.knownDestinations(), ['kept']);
});
