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
}) {
  const records = new Map<string, Rec>(Object.entries(opts.records ?? {}));
  const calls: string[] = [];
  let paused = opts.paused ?? false;
  let sends = 0;
  const ports: ForwarderPorts = {
    claim: async (key): Promise<Claim> => {
      const r = records.get(key.pk);
      if (!r) return { kind: 'missing' };
      if (r.status === 'SENDING') return { kind: 'busy', leaseRemainingMs: 5_000 };
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
      records.set(m.pk, { status, attempts: 0, ambiguousSends: 0, lastError: error });
      return true;
    },
    finish: async (key, _o, _d, u: FinishUpdate) => {
      const r = records.get(key.pk);
      if (!r) return false;
      Object.assign(r, { status: u.status, lastError: u.error, notice: u.notice });
      if (u.ambiguous) r.ambiguousSends++;
      if (u.refund) r.attempts--;
      return true;
    },
    hold: async (key, _d, reason) => {
      const r = records.get(key.pk);
      if (r) Object.assign(r, { status: 'HELD', lastError: reason });
      return r !== undefined;
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
      return opts.outcomes(jobs.length);
    },
  };
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
      },
    ],
  };
  const deps: ForwarderDeps = {
    plugin,
    config,
    ports,
    owner: 'me',
    log: createLogger({}, { level: 'error', sink: () => {} }),
    context: () => ({}) as VendorContext,
    random: () => 0.5,
  };
  const message = (key: string, destination = opts.transmitName ?? 'd'): QueueRecord => ({
    messageId: `m-${key}-${Math.random()}`,
    receiptHandle: 'h',
    receiveCount: 1,
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
  const run = (msgs: QueueRecord[]) => forwardBatch(msgs, deps, { remainingMs: () => 60_000 });
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
});
