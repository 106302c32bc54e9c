import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { recorded } from '#commons/errors.ts';
import { createLogger } from '#commons/logger.ts';
import type { DataTransmit, RelayConfig } from '#domain/config/types.ts';
import type { DeliveryRecord } from '#domain/delivery.ts';
import { encodeDeliveryId } from '#domain/delivery.ts';
import { checkDeliveries, pollDue } from '#domain/poll.ts';
import type { DeliveryStatus, RecordedError } from '#domain/status.ts';
import type { JsonValue, PendingDelivery, PollOutcome, VendorContext, VendorPlugin } from '#vendors/types.ts';

const transmit: DataTransmit = {
  transmit_name: 'd',
  transmit_type: 'fake',
  filter_stream: ['*'],
  base_url: 'http://127.0.0.1:9',
  fields: {},
};

/** A plug-in whose status checks answer `answer` for every delivery, noting what it was asked. */
function answering(answer: PollOutcome, seen: PendingDelivery[] = []): VendorPlugin {
  return {
    id: 'fake',
    displayName: 'Fake',
    fieldsSchema: {},
    optionsSchema: {},
    deliver: async () => [],
    poll: {
      maxBatch: 10,
      firstCheckAfterMs: 0,
      run: async (items) => {
        seen.push(...items);
        return new Map(items.map((i) => [i.deliveryId, answer]));
      },
    },
  };
}

function run(answer: PollOutcome, callbackBodies?: ReadonlyMap<string, JsonValue>) {
  const seen: PendingDelivery[] = [];
  const plugin = answering(answer, seen);
  const rec: DeliveryRecord = {
    pk: 'object#b/k#etag=e',
    sk: 'destination#d',
    destination: 'd',
    status: 'PENDING_VALIDATION',
    bucket: 'b',
    key: 'k',
    etag: 'e',
    size: 1,
    vendorRef: 'ref',
    attempts: 1,
    createdAt: '',
    updatedAt: '',
    history: [],
  };
  const writes: Array<{
    status: DeliveryStatus;
    error?: RecordedError;
    notice?: RecordedError;
    vendorRef?: string;
  }> = [];
  const config: RelayConfig = { version: 1, data_receiver: [], data_transmit: [transmit] };
  return checkDeliveries(
    transmit,
    plugin,
    [rec],
    {
      config,
      vendors: { fake: plugin },
      log: createLogger({}, { level: 'error', sink: () => {} }),
      context: () => ({}) as VendorContext,
      ports: {
        due: async () => [],
        applyCheck: async (_r, u) => {
          writes.push(u);
          return true;
        },
      },
    },
    AbortSignal.timeout(5_000),
    callbackBodies,
  ).then((summary) => ({ summary, writes, seen }));
}

describe('poller', () => {
  it('records a status the model allows', async () => {
    const { summary, writes } = await run({ kind: 'status', status: 'UPLOADED' });
    assert.deepEqual(summary, { checked: 1, changed: 1, errors: 0 });
    assert.equal(writes[0]?.status, 'UPLOADED');
  });
  it('records a notice with the status (done, but something worth telling ops), not as an error', async () => {
    const notice = recorded('OBJECT_SUPERSEDED', 'the result was not written: a newer version');
    const { summary, writes } = await run({ kind: 'status', status: 'UPLOADED', notice });
    assert.deepEqual(summary, { checked: 1, changed: 1, errors: 0 });
    assert.deepEqual(writes[0]?.notice, notice);
    assert.equal(writes[0]?.error, undefined);
  });
  it('refuses a status the model does not allow from here, and says so', async () => {
    const { summary, writes } = await run({ kind: 'status', status: 'QUEUED' });
    assert.equal(summary.errors, 1);
    assert.equal(writes[0]?.status, 'PENDING_VALIDATION');
    assert.equal(writes[0]?.error?.code, 'INVALID_TRANSITION');
  });
  it("hands a callback's body to the plug-in as a hint, and records a vendor id the check found", async () => {
    const id = encodeDeliveryId({ pk: 'object#b/k#etag=e', sk: 'destination#d' });
    const { writes, seen } = await run(
      { kind: 'status', status: 'UPLOADED', vendorRef: 'found-1' },
      new Map([[id, { data: { task: 'found-1' } }]]),
    );
    assert.deepEqual(seen[0]?.callbackBody, { data: { task: 'found-1' } });
    assert.equal(writes[0]?.vendorRef, 'found-1');
    const plain = await run({ kind: 'unchanged' });
    assert.equal(plain.seen[0]?.callbackBody, undefined, 'the poller passes no callback body');
  });

  it("a sweep the queue refuses does not stop the destination's status checks", async () => {
    const plugin = answering({ kind: 'status', status: 'UPLOADED' });
    const base = {
      sk: 'destination#d',
      destination: 'd',
      bucket: 'b',
      etag: 'e',
      size: 1,
      attempts: 1,
      createdAt: '',
      updatedAt: '',
      history: [],
    };
    const stuck: DeliveryRecord = {
      ...base,
      pk: 'object#b/s#etag=e',
      key: 's',
      status: 'RECEIVED',
      fields: {},
    };
    const pending: DeliveryRecord = {
      ...base,
      pk: 'object#b/p#etag=e',
      key: 'p',
      status: 'PENDING_VALIDATION',
      vendorRef: 'ref',
    };
    const checked: DeliveryStatus[] = [];
    const summary = await pollDue(
      {
        config: { version: 1, data_receiver: [], data_transmit: [transmit] },
        vendors: { fake: plugin },
        log: createLogger({}, { level: 'error', sink: () => {} }),
        context: () => ({}) as VendorContext,
        queueUrls: { fake: 'http://127.0.0.1/queue/fake' },
        ports: {
          due: async (_d, status) =>
            status === 'RECEIVED' ? [stuck] : status === 'PENDING_VALIDATION' ? [pending] : [],
          send: async () => {
            throw new Error('SQS refused 1 message(s): InvalidParameterValue');
          },
          applyCheck: async (_r, u) => {
            checked.push(u.status);
            return true;
          },
        },
      },
      AbortSignal.timeout(5_000),
    );
    assert.equal(summary.errors, 1, 'the sweep failed, and is counted');
    assert.deepEqual(checked, ['UPLOADED'], 'the pending delivery was still checked');
  });
});
