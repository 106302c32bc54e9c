/**
 * POST /v1/restream that fails part-way: progress is recorded as batches go, and the same request again
 * resumes where it got to, so every matching object version is queued exactly once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '#commons/logger.ts';
import type { RelayConfig } from '#domain/config/types.ts';
import { restream } from './restream.ts';
import type { ObjectVersion, OpsDeps, OpsRequest, StoredRequest } from './types.ts';

const BUCKET = 'ingest';
const KEYS = Array.from(
  { length: 25 },
  (_, i) => `line-1/st1/SN-${String(i).padStart(3, '0')}_20260105T081500Z.jpg`,
);
const ARRIVED = '2026-01-05T08:15:00.000Z';

/** A table with the request partition only, its conditional writes as DynamoDB does them. */
function fakeTable() {
  const requests = new Map<string, Record<string, unknown>>();
  const key = (kind: string, id: string) => `${kind}#${id}`;
  const table = {
    async putRequest(req: StoredRequest) {
      const k = key(req.kind, req.id);
      const had = requests.get(k);
      if (had) return { created: false, stored: { ...had } as StoredRequest };
      requests.set(k, { ...req });
      return { created: true, stored: req };
    },
    async getRequest(kind: string, id: string) {
      const r = requests.get(key(kind, id));
      return r ? ({ ...r } as StoredRequest) : undefined;
    },
    async updateRequest(kind: string, id: string, fields: Record<string, unknown>) {
      Object.assign(requests.get(key(kind, id)) ?? {}, fields);
    },
    async claimRequest(kind: string, id: string, lease: string, leaseUntil: number, now: number) {
      const r = requests.get(key(kind, id));
      if (r?.state !== 'running' || (typeof r.leaseUntil === 'number' && r.leaseUntil >= now))
        return undefined;
      Object.assign(r, { lease, leaseUntil });
      return { ...r } as StoredRequest;
    },
    async updateLeased(kind: string, id: string, lease: string, fields: Record<string, unknown>) {
      const r = requests.get(key(kind, id));
      if (!r || r.lease !== lease) return false;
      Object.assign(r, fields);
      return true;
    },
  };
  return { table, requests };
}

function setup(keys: readonly string[] = KEYS, streams: unknown[] = []) {
  const { table, requests } = fakeTable();
  const sent: string[] = [];
  let sends = 0;
  let failOn: number | undefined;
  const versions: ObjectVersion[] = keys.map((k, i) => ({
    key: k,
    versionId: `v${i}`,
    etag: `"e${i}"`,
    size: 100,
    lastModified: ARRIVED,
    isLatest: true,
  }));
  const config = {
    version: 1,
    data_receiver: [{ data_receiver_name: 'factory-bucket', protocol: 's3', streams }],
    data_transmit: [],
  } as unknown as RelayConfig;
  const deps = {
    config: () => ({ config, version: 0, bakedHash: 'test' }),
    table,
    objects: {
      async listLatest(_bucket: string, prefix: string) {
        return { versions: versions.filter((v) => v.key.startsWith(prefix)) };
      },
    },
    queues: {
      async send(_url: string, messages: Array<{ body: string }>) {
        sends++;
        if (sends === failOn) throw new Error('SQS: ServiceUnavailable');
        for (const m of messages) {
          const event = JSON.parse(m.body) as { Records: Array<{ s3: { object: { key: string } } }> };
          sent.push(decodeURIComponent(event.Records[0]?.s3.object.key ?? ''));
        }
      },
    },
    ingestBucket: BUCKET,
    ingestQueue: { name: 'ingest', url: 'http://sqs/ingest', dlqUrl: 'http://sqs/ingest-dlq' },
    vendorQueues: [],
    log: createLogger({}, { sink: () => {} }),
    now: () => Date.parse('2026-01-05T09:00:00.000Z'),
    sleep: async () => {},
  } as unknown as OpsDeps;
  return {
    deps,
    sent,
    requests,
    failOnSend: (n: number | undefined) => {
      failOn = n;
    },
  };
}

const request = (body: Record<string, unknown>): OpsRequest => ({
  method: 'POST',
  routeKey: 'POST /v1/restream',
  path: {},
  query: {},
  body: JSON.stringify(body),
  by: 'local:tester',
});

describe('restream that fails part-way', () => {
  it('an SQS failure on the second batch, then the same request again: every match queued exactly once', async () => {
    const t = setup();
    const body = { requestId: 'rs-part', keys: KEYS };
    t.failOnSend(2);
    const first = await restream(request(body), t.deps).then(
      () => assert.fail('the failed send answers an error'),
      (err: unknown) => err as Error & { code?: string },
    );
    assert.equal(first.code, 'INTERNAL');
    assert.match(first.message, /after queueing 10 of 25.*POST the same request again/);
    assert.equal(t.sent.length, 10);
    const stored = t.requests.get('restream#rs-part');
    assert.equal(stored?.state, 'running');
    assert.equal(stored?.queued, 10, 'progress recorded batch by batch');

    t.failOnSend(undefined);
    const again = await restream(request(body), t.deps);
    assert.equal(again.statusCode, 202);
    const r = again.body.response as Record<string, unknown>;
    assert.equal(r.state, 'done');
    assert.equal(r.queued, 25);
    assert.equal(r.resumed, true);
    assert.deepEqual([...t.sent].sort(), [...KEYS].sort(), 'each key once');

    const third = await restream(request(body), t.deps);
    assert.equal((third.body.response as Record<string, unknown>).duplicate, true);
    assert.equal(t.sent.length, 25, 'a finished request queues nothing again');
  });

  it('the same request while another is still sending (lease held) queues nothing', async () => {
    const t = setup();
    const body = { requestId: 'rs-live', keys: KEYS.slice(0, 3) };
    t.requests.set('restream#rs-live', {
      kind: 'restream',
      id: 'rs-live',
      state: 'running',
      queued: 0,
      at: '2026-01-05T09:00:00.000Z',
      lease: 'someone-else',
      leaseUntil: Date.parse('2026-01-05T09:00:30.000Z'),
    });
    // The fingerprint of this body, as the first request stored it.
    const put = await restream(request({ ...body, requestId: 'rs-probe' }), t.deps);
    assert.equal(put.statusCode, 202);
    const live = t.requests.get('restream#rs-live') as Record<string, unknown>;
    live.fingerprint = t.requests.get('restream#rs-probe')?.fingerprint;
    const sentBefore = t.sent.length;
    const answer = await restream(request(body), t.deps);
    assert.equal((answer.body.response as Record<string, unknown>).duplicate, true);
    assert.equal((answer.body.response as Record<string, unknown>).state, 'running');
    assert.equal(t.sent.length, sentBefore);
  });
});

describe('restream by stream', () => {
  it("lists both spellings of the pattern's prefix: keys a Mac wrote NFD are restreamed with the NFC ones", async () => {
    const nfd = 'line-1/Pru\u0308fstand/SN-1_20260105T081500Z.jpg';
    const nfc = 'line-1/Prüfstand/SN-2_20260105T081500Z.jpg';
    const t = setup(
      [nfd, nfc, 'line-1/other/SN-3_20260105T081500Z.jpg'],
      [{ asset: 'line-1', stream_type: 'cam', key_pattern: 'line-1/Prüfstand/{serial}_{taken_at}.{ext}' }],
    );
    const res = await restream(
      request({ requestId: 'rs-nfd', 'factory-bucket': [{ asset: 'line-1', stream_type: 'cam' }] }),
      t.deps,
    );
    assert.equal(res.statusCode, 202, JSON.stringify(res.body));
    assert.deepEqual([...t.sent].sort(), [nfd, nfc].sort(), 'each real key once, in its own spelling');
  });
});
