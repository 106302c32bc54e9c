/**
 * The core's own mechanisms, without AWS: request dispatch that cannot wedge the connection pool, credential
 * checks, callback tokens, SQS-safe message bodies, and the forwarder's decisions (holds, "already there",
 * ambiguous sends, duplicates, removed destinations) against in-memory ports.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { describe, it } from 'node:test';
import { createHttpAgent } from '#adapters/http.ts';
import { CredentialsError, recorded } from '#commons/errors.ts';
import { InvalidRequestError, sendRequest } from '#commons/http.ts';
import { createLogger } from '#commons/logger.ts';
import { callbackToken, signingKeyFrom, verifyCallbackToken } from '#domain/callback-token.ts';
import type { RelayConfig } from '#domain/config/types.ts';
import {
  type DeliveryMessage,
  encodeDeliveryId,
  parseDeliveryMessage,
  sqsSafeJson,
} from '#domain/delivery.ts';
import {
  type Claim,
  type FinishUpdate,
  type ForwarderDeps,
  type ForwarderPorts,
  forwardBatch,
  type QueueRecord,
} from '#domain/forward.ts';
import { checkApiKey } from '#domain/vendor-context.ts';
import type { DeliveryOutcome, VendorContext, VendorPlugin } from '#vendors/types.ts';

describe('vendor requests cannot wedge the connection pool', () => {
  it('refuses 100 requests with a bad header before dispatch, then sends normally on the same agent', async () => {
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const agent = createHttpAgent();
    try {
      const url = new URL(`http://127.0.0.1:${port}/x`);
      for (let i = 0; i < 100; i++) {
        await assert.rejects(
          sendRequest(
            agent,
            { method: 'POST', url, headers: { 'x-api-key': 'abc\n' }, body: 'payload' },
            AbortSignal.timeout(5_000),
          ),
          InvalidRequestError,
        );
      }
      const answer = await sendRequest(
        agent,
        { method: 'POST', url, body: 'payload' },
        AbortSignal.timeout(30_000),
      );
      assert.deepEqual(answer.kind === 'answer' && [answer.status, answer.text], [200, 'ok']);
    } finally {
      await agent.close();
      server.close();
    }
  });

  it('says whether a request had gone out in full when no answer came', async () => {
    const server = createServer((req) => {
      req.resume();
      req.on('end', () => req.socket.destroy());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const agent = createHttpAgent();
    try {
      const answer = await sendRequest(
        agent,
        { method: 'POST', url: new URL(`http://127.0.0.1:${port}/`), body: Buffer.alloc(1024, 1) },
        AbortSignal.timeout(30_000),
      );
      assert.equal(answer.kind, 'no-answer');
      assert.equal(answer.kind === 'no-answer' && answer.sentInFull, true);
    } finally {
      await agent.close();
      server.close();
    }
  });
});

describe('API keys are checked before any request is built', () => {
  const plugin = { checkCredentials: (k: string) => (k.startsWith('ok-') ? undefined : 'is not an ok- key') };
  const code = (key: string) => {
    try {
      checkApiKey(plugin as unknown as VendorPlugin, 'secret/name', key);
      return 'accepted';
    } catch (err) {
      assert.ok(err instanceof CredentialsError);
      return err.code;
    }
  };
  it('refuses empty keys, stray whitespace or control characters, and the wrong shape', () => {
    assert.equal(code('ok-1234'), 'accepted');
    assert.equal(code(''), 'CREDENTIALS_MISSING');
    for (const bad of ['ok-1234\n', ' ok-1234', 'ok-12\t34', 'ok-1234\r', 'ok-\u00001234', 'ok-1234\u200b'])
      assert.equal(code(bad), 'CREDENTIALS_MALFORMED', JSON.stringify(bad));
    assert.equal(code('1234'), 'CREDENTIALS_MALFORMED');
  });
  it('never puts the key in the message', () => {
    try {
      checkApiKey(plugin as unknown as VendorPlugin, 'secret/name', 'ok-secret-part\n');
    } catch (err) {
      assert.doesNotMatch((err as Error).message, /secret-part/);
    }
  });
});

describe('callback tokens', () => {
  const key = signingKeyFrom(Buffer.alloc(48, 7).toString('base64'));
  const id = encodeDeliveryId({ pk: 'object#b/k#v=1', sk: 'destination#d' });
  it('verify for the vendor and delivery they were made for, nothing else', () => {
    const token = callbackToken(key, 'instavid360', id);
    assert.equal(verifyCallbackToken(key, 'instavid360', token), id);
    assert.equal(verifyCallbackToken(key, 'other', token), undefined, 'another vendor');
    const other = encodeDeliveryId({ pk: 'object#b/k2#v=1', sk: 'destination#d' });
    assert.equal(verifyCallbackToken(key, 'instavid360', `${other}${token.slice(id.length)}`), undefined);
    assert.equal(verifyCallbackToken(key, 'instavid360', id), undefined, 'the bare delivery id');
    assert.equal(verifyCallbackToken(key, 'instavid360', `${token}x`), undefined);
    assert.equal(
      verifyCallbackToken(signingKeyFrom(Buffer.alloc(48, 8).toString('base64')), 'instavid360', token),
      undefined,
    );
  });
  it('refuse a short signing key', () => {
    assert.throws(() => signingKeyFrom('c2hvcnQ='), /at least 32 bytes/);
  });
});

describe('queue messages carry any key SQS-safely', () => {
  /** One key per class of code point an S3 key can hold (UTF-8, up to 1024 bytes). */
  const samples = [
    'a+b %2B c%25 d.jpg',
    'tab\there/new\nline\r.jpg',
    'ctrl\u0001\u001f\u007f.jpg',
    'bmp-\u00e9\u4e2d\u0800.jpg',
    'private-\ue000\uf8ff.jpg',
    'specials-\ufffd\ufffe\uffff.jpg',
    'astral-\u{1f600}\u{10ffff}.jpg',
    `long-${'\u{1f600}'.repeat(254)}.jpg`,
    `long-${'x'.repeat(1019)}`,
    'quotes-"\'\\.jpg',
  ];
  it('bodies are printable ASCII, and parse back to the exact key', () => {
    for (const key of samples) {
      const msg: DeliveryMessage = {
        v: 1,
        pk: `object#b/${key}#v=1`,
        sk: 'destination#d',
        destination: 'd',
        vendor: 'v',
        object: { bucket: 'b', key, etag: 'e', size: 1 },
        fields: { fileName: key },
      };
      const body = sqsSafeJson(msg);
      assert.match(body, /^[\x20-\x7e]*$/, JSON.stringify(key));
      assert.deepEqual(parseDeliveryMessage(body), msg);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// The forwarder's decisions, against in-memory ports

type Rec = {
  status: string;
  attempts: number;
  ambiguousSends: number;
  lastError?: unknown;
  notice?: unknown;
};

function forwarder(opts: {
  outcomes: (n: number) => DeliveryOutcome[];
  transmitName?: string;
  records?: Record<string, Rec>;
  /** The router records QUEUED between the forwarder's first claim and its adopt (send-first, then record). */
  routerWinsRace?: boolean;
  /** The destination is paused when the batch comes. */
  paused?: boolean;
  /** Table writes that fail for these keys (DynamoDB throttling past the client's retries, say). */
  claimThrowsFor?: string[];
  finishThrowsFor?: string[];
  /** The destination has an API key secret, read through this. */
  apiKey?: () => Promise<string>;
}) {
  const records = new Map<string, Rec>(Object.entries(opts.records ?? {}));
  const calls: string[] = [];
  let paused = opts.paused ?? false;
  let sends = 0;
  const ports: ForwarderPorts = {
    claim: async (key): Promise<Claim> => {
      if (opts.claimThrowsFor?.includes(key.pk)) throw new Error('ProvisionedThroughputExceededException');
      const r = records.get(key.pk);
      if (!r) return { kind: 'missing' };
      if (r.status === 'SENDING') return { kind: 'busy', leaseRemainingMs: 5_000 };
      if (r.status === 'SENDING-EXPIRED') {
        // A lease whose forwarder died mid-send: claimed, the send it may have made counted as ambiguous.
        Object.assign(r, {
          status: 'SENDING',
          attempts: r.attempts + 1,
          ambiguousSends: r.ambiguousSends + 1,
        });
        return { kind: 'claimed', record: { attempts: r.attempts, ambiguousSends: r.ambiguousSends } };
      }
      if (r.status === 'RETRYING-EARLY') return { kind: 'early', dueInMs: 7_000 };
      if (!['QUEUED', 'HELD', 'RETRYING'].includes(r.status)) return { kind: 'settled', status: 'UPLOADED' };
      r.status = 'SENDING';
      r.attempts++;
      return { kind: 'claimed', record: { attempts: r.attempts, ambiguousSends: r.ambiguousSends } };
    },
    adopt: async (m, status, error) => {
      if (opts.routerWinsRace) {
        records.set(m.pk, { status: 'QUEUED', attempts: 0, ambiguousSends: 0 });
        return false;
      }
      // As the table's conditional create: only where no record exists.
      if (records.has(m.pk)) return false;
      records.set(m.pk, { status, attempts: 0, ambiguousSends: 0, lastError: error });
      return true;
    },
    finish: async (key, _o, _d, u: FinishUpdate) => {
      if (opts.finishThrowsFor?.includes(key.pk)) throw new Error('InternalServerError');
      const r = records.get(key.pk);
      if (!r) return false;
      Object.assign(r, { status: u.status, lastError: u.error, notice: u.notice });
      if (u.ambiguous) r.ambiguousSends++;
      if (u.refund) r.attempts--;
      return true;
    },
    hold: async (key, _d, reason) => {
      // As the table's condition: only a delivery that waits (not one being sent, not a settled one).
      const r = records.get(key.pk);
      if (!r || !['RECEIVED', 'QUEUED', 'RETRYING', 'HELD'].includes(r.status)) return false;
      Object.assign(r, { status: 'HELD', lastError: reason });
      return true;
    },
    destinationState: async () => ({ paused }),
    pauseDestination: async () => {
      paused = true;
      calls.push('pause');
    },
    takeProbe: async () => false,
    resumeDestination: async () => {
      paused = false;
    },
    retryLater: async (_h, ms) => {
      calls.push(`retryLater ${ms}`);
    },
    deadLetter: async (_b, reason) => {
      calls.push(`deadLetter ${reason.code}`);
    },
    forgetApiKey: () => {},
  };
  const plugin: VendorPlugin = {
    id: 'fake',
    displayName: 'Fake',
    fieldsSchema: {},
    optionsSchema: {},
    maxBatch: 10,
    async deliver(jobs) {
      sends += jobs.length;
      if (returned) calls.push('sent after the handler returned');
      return opts.outcomes(jobs.length);
    },
  };
  let returned = false;
  const config: RelayConfig = {
    version: 1,
    relay: { max_attempts: 2 },
    data_receiver: [],
    data_transmit: [
      {
        transmit_name: 'd',
        transmit_type: 'fake',
        filter_stream: ['*'],
        base_url: 'http://127.0.0.1:9',
        fields: {},
        ...(opts.apiKey ? { api_key_secret: 'relay/d' } : {}),
      },
    ],
  };
  const deps: ForwarderDeps = {
    plugin,
    config,
    ports,
    owner: 'me',
    log: createLogger({}, { level: 'error', sink: () => {} }),
    context: () => ({ ...(opts.apiKey ? { apiKey: opts.apiKey } : {}) }) as VendorContext,
    random: () => 0.5,
  };
  const message = (key: string, destination = opts.transmitName ?? 'd', receiveCount = 1): QueueRecord => ({
    messageId: `m-${key}-${Math.random()}`,
    receiptHandle: 'h',
    receiveCount,
    body: sqsSafeJson({
      v: 1,
      pk: key,
      sk: `destination#${destination}`,
      destination,
      vendor: 'fake',
      object: { bucket: 'b', key, etag: 'e', size: 1 },
      fields: {},
    }),
  });
  const run = async (msgs: QueueRecord[]) => {
    returned = false;
    const out = await forwardBatch(msgs, deps, { remainingMs: () => 60_000 });
    returned = true;
    // Anything a detached group would still do happens within a few turns of the event loop.
    await new Promise((r) => setImmediate(r));
    return out;
  };
  return { records, calls, run, message, sends: () => sends };
}

const queued = (): Rec => ({ status: 'QUEUED', attempts: 0, ambiguousSends: 0 });
const accepted: DeliveryOutcome = { kind: 'accepted', status: 'UPLOADED', vendorRef: 'r' };

describe('forwarder decisions', () => {
  it('sends one delivery once when its message comes three times in one batch (duplicate S3 events)', async () => {
    const f = forwarder({ outcomes: (n) => Array(n).fill(accepted), records: { k1: queued() } });
    const m = f.message('k1');
    const out = await f.run([m, { ...m, messageId: 'dup-1' }, { ...m, messageId: 'dup-2' }]);
    assert.deepEqual(out.failures, []);
    assert.equal(f.sends(), 1);
    assert.equal(f.records.get('k1')?.status, 'UPLOADED');
  });

  it('claims the record the router made while the forwarder was looking for it (send first, record after)', async () => {
    const f = forwarder({ outcomes: (n) => Array(n).fill(accepted), routerWinsRace: true });
    const out = await f.run([f.message('k-race')]);
    assert.deepEqual(out.failures, []);
    assert.deepEqual(f.calls, [], 'nothing left for the dead-letter queue');
    assert.equal(f.sends(), 1);
    assert.equal(f.records.get('k-race')?.status, 'UPLOADED');
  });

  it('a paused destination parks a message that came before its record: HELD from the message, none stranded', async () => {
    const f = forwarder({ outcomes: () => [accepted], paused: true });
    const out = await f.run([f.message('k-early')]);
    assert.deepEqual(out.failures, [], 'the message is acknowledged');
    assert.equal(f.sends(), 0);
    assert.equal(f.records.get('k-early')?.status, 'HELD', 'recorded HELD, so the poller releases it');
  });

  it('records a message for a destination no longer in the config, even without a record', async () => {
    const f = forwarder({ outcomes: () => [], transmitName: 'gone' });
    const out = await f.run([f.message('k2')]);
    assert.deepEqual(out.failures, []);
    assert.equal(f.records.get('k2')?.status, 'REJECTED');
    assert.deepEqual(
      (f.records.get('k2')?.lastError as { code?: string } | undefined)?.code,
      'DESTINATION_REMOVED',
    );
  });

  it('puts back a duplicate message that comes before its backoff ends, sending nothing', async () => {
    const f = forwarder({
      outcomes: () => [accepted],
      records: { k3: { ...queued(), status: 'RETRYING-EARLY' } },
    });
    const m = f.message('k3');
    const out = await f.run([m]);
    assert.deepEqual(out.failures, [m.messageId]);
    assert.deepEqual(f.calls, ['retryLater 7000']);
    assert.equal(f.sends(), 0);
  });

  it('a hold pauses the destination and parks the rest of the batch without sending it', async () => {
    const hold: DeliveryOutcome = { kind: 'hold', error: recorded('AUTH_FAILED', 'refused') };
    const f = forwarder({ outcomes: (n) => Array(n).fill(hold), records: { a: queued(), b: queued() } });
    await f.run([f.message('a'), f.message('b')]);
    assert.ok(f.calls.includes('pause'));
    for (const k of ['a', 'b']) {
      assert.equal(f.records.get(k)?.status, 'HELD');
      assert.equal(f.records.get(k)?.attempts, 0, 'the hold gives the attempt back');
    }
  });

  it('"already there" is ALREADY_PRESENT, or UPLOADED when an earlier send went unanswered', async () => {
    const present: DeliveryOutcome = {
      kind: 'present',
      error: recorded('DUPLICATE', 'An item with this hash already exists'),
    };
    const f = forwarder({
      outcomes: (n) => Array(n).fill(present),
      records: { fresh: queued(), ours: { ...queued(), status: 'RETRYING', ambiguousSends: 1 } },
    });
    await f.run([f.message('fresh'), f.message('ours')]);
    assert.equal(f.records.get('fresh')?.status, 'ALREADY_PRESENT');
    assert.equal(f.records.get('ours')?.status, 'UPLOADED');
    assert.equal((f.records.get('ours')?.notice as { code?: string } | undefined)?.code, 'DELIVERED_EARLIER');
  });

  it('an outage (10 failures in a row) pauses the destination instead of spending every attempt', async () => {
    const down: DeliveryOutcome = {
      kind: 'retry',
      error: recorded('VENDOR_UNAVAILABLE', 'answered 503', { httpStatus: 503 }),
    };
    const keys = Array.from({ length: 12 }, (_, i) => `out-${i}`);
    // One request per file: each failure its own outcome.
    const f = forwarder({
      outcomes: (n) => Array.from({ length: n }, () => ({ ...down })),
      records: Object.fromEntries(keys.map((k) => [k, queued()])),
    });
    await f.run(keys.slice(0, 10).map((k) => f.message(k)));
    assert.ok(f.calls.includes('pause'), 'paused after the tenth failure');
    const before = f.sends();
    await f.run(keys.slice(10).map((k) => f.message(k)));
    assert.equal(f.sends(), before, 'nothing more is sent to a vendor that is down');
    for (const k of keys.slice(10)) assert.equal(f.records.get(k)?.status, 'HELD');
  });

  it('one failed batch request counts as one failure, however many files it carried', async () => {
    const down: DeliveryOutcome = {
      kind: 'retry',
      error: recorded('VENDOR_UNAVAILABLE', 'answered 503', { httpStatus: 503 }),
    };
    const keys = Array.from({ length: 100 }, (_, i) => `batch-${i}`);
    // The files of one request share its outcome (an Edge Impulse batch, a V7 register).
    const f = forwarder({
      outcomes: (n) => Array(n).fill({ ...down }),
      records: Object.fromEntries(keys.map((k) => [k, queued()])),
    });
    for (let b = 0; b < 9; b++) await f.run(keys.slice(b * 10, b * 10 + 10).map((k) => f.message(k)));
    assert.ok(!f.calls.includes('pause'), 'nine failed requests of ten files each: not yet an outage');
    await f.run(keys.slice(90).map((k) => f.message(k)));
    assert.ok(f.calls.includes('pause'), 'the tenth failed request in a row is');
  });

  it('out of attempts after a send that went out in full unanswered: UNCONFIRMED, never DEAD', async () => {
    const lost: DeliveryOutcome = { kind: 'retry', ambiguous: true, error: recorded('NO_ANSWER', 'reset') };
    const plain: DeliveryOutcome = { kind: 'retry', error: recorded('VENDOR_UNAVAILABLE', '503') };
    const a = forwarder({ outcomes: () => [lost], records: { k: { ...queued(), attempts: 1 } } });
    await a.run([a.message('k')]);
    assert.equal(a.records.get('k')?.status, 'UNCONFIRMED');
    assert.equal(a.records.get('k')?.ambiguousSends, 1);
    assert.ok(a.calls.includes('deadLetter NO_ANSWER'));
    const b = forwarder({ outcomes: () => [plain], records: { k: { ...queued(), attempts: 1 } } });
    await b.run([b.message('k')]);
    assert.equal(b.records.get('k')?.status, 'DEAD');
  });

  it('a delivery left SENDING by a killed forwarder is parked, not stranded, when its destination is paused', async () => {
    const f = forwarder({
      outcomes: () => [accepted],
      paused: true,
      records: { dead: { status: 'SENDING-EXPIRED', attempts: 1, ambiguousSends: 0 }, live: { ...queued() } },
    });
    f.records.set('live', { status: 'SENDING', attempts: 1, ambiguousSends: 0 });
    const dead = f.message('dead');
    const live = f.message('live');
    const out = await f.run([dead, live]);
    const rec = f.records.get('dead');
    assert.equal(rec?.status, 'HELD', 'the poller releases it when the destination runs');
    assert.equal(rec?.ambiguousSends, 1, 'the send the dead forwarder may have made is counted');
    assert.equal(rec?.attempts, 1, 'parking spends no attempt');
    assert.equal(f.sends(), 0);
    assert.deepEqual(out.failures, [live.messageId], 'a live lease: the message comes back after it');
    assert.ok(f.calls.includes('retryLater 6000'));
  });

  it('a table write that fails for one message fails that message only, and nothing is sent after the batch', async () => {
    const f = forwarder({
      outcomes: (n) => Array(n).fill(accepted),
      records: { a: queued(), b: queued(), c: queued() },
      claimThrowsFor: ['b'],
    });
    const [a, b, c] = [f.message('a'), f.message('b'), f.message('c')];
    const out = await f.run([a, b, c]);
    assert.deepEqual(out.failures, [b.messageId]);
    assert.equal(f.records.get('a')?.status, 'UPLOADED');
    assert.equal(f.records.get('c')?.status, 'UPLOADED');
    assert.equal(f.records.get('b')?.status, 'QUEUED');
    assert.ok(f.calls.includes('retryLater 5000'), 'the failed one is asked back soon');
    assert.ok(!f.calls.includes('sent after the handler returned'));

    const g = forwarder({
      outcomes: (n) => Array(n).fill(accepted),
      records: { a: queued(), b: queued() },
      finishThrowsFor: ['a'],
    });
    const [ga, gb] = [g.message('a'), g.message('b')];
    const gout = await g.run([ga, gb]);
    assert.deepEqual(gout.failures, [ga.messageId], 'its outcome is not recorded: the message comes back');
    assert.equal(g.records.get('b')?.status, 'UPLOADED');
  });

  it('a secret that cannot be read: its messages come back later each time, then the destination is paused', async () => {
    const unreadable = async (): Promise<string> => {
      throw new Error('ThrottlingException: Rate exceeded');
    };
    const f = forwarder({ outcomes: () => [accepted], records: { s: queued() }, apiKey: unreadable });
    for (const receives of [1, 2, 3]) {
      const m = f.message('s', 'd', receives);
      assert.deepEqual((await f.run([m])).failures, [m.messageId]);
    }
    assert.deepEqual(f.calls, ['retryLater 5000', 'retryLater 10000', 'retryLater 20000']);
    assert.equal(f.records.get('s')?.status, 'QUEUED');
    const out = await f.run([f.message('s', 'd', 4)]);
    assert.deepEqual(out.failures, [], 'held in the table, not burning the redrive limit');
    assert.ok(f.calls.includes('pause'));
    assert.equal(f.records.get('s')?.status, 'HELD');
    assert.equal(
      (f.records.get('s')?.lastError as { code?: string } | undefined)?.code,
      'CREDENTIALS_UNAVAILABLE',
    );
    assert.equal(f.sends(), 0);
  });
});
