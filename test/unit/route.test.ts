import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '#commons/logger.ts';
import { loadConfigFile } from '#domain/config/load.ts';
import type { DataTransmit, RelayConfig } from '#domain/config/types.ts';
import type { DeliveryRecord } from '#domain/delivery.ts';
import { MalformedEventError, type RouterDeps, routeMessage } from '#domain/route.ts';
import { VENDORS } from '#vendors/registry.ts';

const config: RelayConfig = {
  version: 1,
  data_receiver: [
    {
      data_receiver_name: 'r',
      protocol: 's3',
      streams: [
        {
          asset: 'line-1',
          stream_type: 'cam',
          key_pattern: 'line-1/{station}/{serial}_{taken_at}.{ext}',
          sidecar: { mode: 'append', suffix: '.json', required: true },
        },
      ],
    },
  ],
  data_transmit: [
    {
      transmit_name: 'inst',
      transmit_type: 'instrumental',
      filter_stream: ['line-1:cam'],
      base_url: 'http://127.0.0.1:9',
      api_key_secret: 'k',
      fields: {
        serialNumber: '{serial}',
        stationName: '{station}',
        imageType: '{sidecar.view}',
        imageTimestamp: { iso8601Time: '{taken_at|iso8601}', ianaTimeZone: 'UTC' },
      },
    },
  ],
};

function harness(objects: Record<string, string | undefined>, cfg: RelayConfig = config) {
  const records = new Map<string, DeliveryRecord>();
  const sent: Array<{ url: string; body: string }> = [];
  const deps: RouterDeps = {
    config: cfg,
    vendors: VENDORS,
    queueUrls: { instrumental: 'http://127.0.0.1/queue/instrumental' },
    log: createLogger({}, { level: 'error', sink: () => {} }),
    sidecarWaitReceives: 3,
    ports: {
      describe: async (ref) => (ref.key in objects ? { size: 10, etag: 'e', metadata: {} } : undefined),
      readSmall: async (_b, key) => {
        const text = objects[key];
        return text === undefined ? { kind: 'missing' } : { kind: 'found', text };
      },
      createDelivery: async (rec) => {
        const id = `${rec.pk}|${rec.sk}`;
        const existing = records.get(id);
        if (existing) return { created: false, record: existing };
        const full: DeliveryRecord = { ...rec, attempts: 0, createdAt: '', updatedAt: '', history: [] };
        records.set(id, full);
        return { created: true, record: full };
      },
      markQueued: async (key) => {
        const r = records.get(`${key.pk}|${key.sk}`);
        if (r) r.status = 'QUEUED';
      },
      send: async (url, messages) => {
        for (const m of messages) sent.push({ url, body: m.body });
      },
    },
  };
  return { deps, records, sent };
}

const event = (key: string, name = 'ObjectCreated:Put', size = 10) =>
  JSON.stringify({
    Records: [
      { eventName: name, s3: { bucket: { name: 'b' }, object: { key, size, eTag: '"e"', versionId: 'v1' } } },
    ],
  });

describe('router', () => {
  it('ignores s3:TestEvent', async () => {
    const { deps, records } = harness({});
    const res = await routeMessage(JSON.stringify({ Service: 'Amazon S3', Event: 's3:TestEvent' }), 1, deps);
    assert.deepEqual(res, { kind: 'done', deliveries: 0 });
    assert.equal(records.size, 0);
  });

  it('refuses bodies that are not S3 events', async () => {
    const { deps } = harness({});
    await assert.rejects(routeMessage('not json', 1, deps), MalformedEventError);
    await assert.rejects(routeMessage('{"hello":1}', 1, deps), MalformedEventError);
  });

  it('skips folder markers, removals and the sidecars themselves', async () => {
    const { deps, records } = harness({ 'line-1/A/S1_20260101T000000Z.jpg.json': '{}' });
    await routeMessage(event('line-1/A/', 'ObjectCreated:Put', 0), 1, deps);
    await routeMessage(event('line-1/A/S1_20260101T000000Z.jpg', 'ObjectRemoved:Delete'), 1, deps);
    await routeMessage(event('line-1/A/S1_20260101T000000Z.jpg.json'), 1, deps);
    assert.equal(records.size, 0);
  });

  it('routes one delivery per destination, decoding the key once', async () => {
    const key = 'line-1/A B/S+1%_20260101T000000Z.jpg';
    const { deps, records, sent } = harness({ [key]: '', [`${key}.json`]: '{"view":"Top"}' });
    const res = await routeMessage(event('line-1/A+B/S%2B1%25_20260101T000000Z.jpg'), 1, deps);
    assert.deepEqual(res, { kind: 'done', deliveries: 1 });
    const [rec] = records.values();
    assert.equal(rec?.key, key);
    assert.equal(rec?.status, 'QUEUED');
    assert.equal(rec?.serialNumber, 'S+1%');
    assert.equal(sent.length, 1);
    assert.deepEqual(JSON.parse(sent[0]?.body ?? '{}').fields.imageType, 'Top');
  });

  it('queues nothing for a duplicate event', async () => {
    const key = 'line-1/A/S1_20260101T000000Z.jpg';
    const { deps, sent } = harness({ [key]: '', [`${key}.json`]: '{"view":"Top"}' });
    await routeMessage(event(key), 1, deps);
    await routeMessage(event(key), 1, deps);
    assert.equal(sent.length, 1);
  });

  it('waits for a required sidecar a few receives, then rejects', async () => {
    const key = 'line-1/A/S2_20260101T000000Z.jpg';
    const { deps, records } = harness({ [key]: '' });
    const first = await routeMessage(event(key), 1, deps);
    assert.equal(first.kind, 'wait');
    assert.equal(records.size, 0, 'nothing recorded while waiting');
    await routeMessage(event(key), 3, deps);
    const [rec] = records.values();
    assert.equal(rec?.status, 'REJECTED');
    assert.equal(rec?.lastError?.code, 'MISSING_SIDECAR');
  });

  it('records a key matching no stream, once', async () => {
    const { deps, records } = harness({});
    await routeMessage(event('elsewhere/x.jpg'), 1, deps);
    await routeMessage(event('elsewhere/x.jpg'), 1, deps);
    assert.equal(records.size, 1);
    const [rec] = records.values();
    assert.equal(rec?.sk, 'route');
    assert.equal(rec?.lastError?.code, 'NO_MATCHING_STREAM');
  });

  it('rejects a field the sidecar does not give, naming it', async () => {
    const key = 'line-1/A/S3_20260101T000000Z.jpg';
    const { deps, records, sent } = harness({ [key]: '', [`${key}.json`]: '{"other":1}' });
    await routeMessage(event(key), 1, deps);
    const [rec] = records.values();
    assert.equal(rec?.status, 'REJECTED');
    assert.equal(rec?.lastError?.code, 'MISSING_METADATA');
    assert.match(rec?.lastError?.message ?? '', /imageType/);
    assert.equal(sent.length, 0);
  });

  it('a time that does not parse is INVALID_TIMESTAMP, not missing metadata', async () => {
    const key = 'line-1/A/S4_yesterday.jpg';
    const { deps, records, sent } = harness({ [key]: '', [`${key}.json`]: '{"view":"Top"}' });
    await routeMessage(event(key), 1, deps);
    const [rec] = records.values();
    assert.equal(rec?.status, 'REJECTED');
    assert.equal(rec?.lastError?.code, 'INVALID_TIMESTAMP');
    assert.match(
      rec?.lastError?.message ?? '',
      /\/imageTimestamp\/iso8601Time: iso8601: "yesterday" is not a recognised timestamp/,
    );
    assert.equal(sent.length, 0);
  });
});

/** The router's config with one stream setting and some fields replaced. */
function configWith(
  stream: Partial<RelayConfig['data_receiver'][0]['streams'][0]>,
  fields: DataTransmit['fields'],
) {
  const c = structuredClone(config);
  const s = c.data_receiver[0]!.streams[0]!;
  Object.assign(s, stream);
  const t = c.data_transmit[0]!;
  t.fields = { ...t.fields, ...fields };
  return c;
}

describe('router: field codes and time zones', () => {
  const key = 'line-1/A/S5_20240315T101530.jpg';
  const route = async (cfg: RelayConfig, sidecar: Record<string, unknown>) => {
    const { deps, records, sent } = harness({ [key]: '', [`${key}.json`]: JSON.stringify(sidecar) }, cfg);
    await routeMessage(event(key), 1, deps);
    const [rec] = records.values();
    assert.ok(rec);
    return { rec, sent };
  };

  it('a value of the wrong shape for the vendor schema is INVALID_FIELDS', async () => {
    const cfg = configWith({}, { subassemblies: '{sidecar.subassemblies}' });
    const { rec, sent } = await route(cfg, {
      view: 'Top',
      subassemblies: [{ serialNumber: 'BAT-1', relationshipName: 'battery' }],
    });
    assert.equal(rec.status, 'REJECTED');
    assert.equal(rec.lastError?.code, 'INVALID_FIELDS');
    assert.match(
      rec.lastError?.message ?? '',
      /\/subassemblies\/0\/unitSerial must have required property 'unitSerial'/,
    );
    assert.equal(sent.length, 0);
    // The same sidecar in the documented shape goes through.
    const fixed = await route(cfg, {
      view: 'Top',
      subassemblies: [{ unitSerial: 'BAT-1', relationshipName: 'battery' }],
    });
    assert.equal(fixed.rec.status, 'QUEUED');
  });

  it('a required value that is absent is MISSING_METADATA, even beside an optional one', async () => {
    const cfg = configWith(
      {},
      { imageTimestamp: { iso8601Time: '{sidecar.taken}', ianaTimeZone: '{sidecar.tz}' } },
    );
    const { rec } = await route(cfg, { view: 'Top' });
    assert.equal(rec.lastError?.code, 'MISSING_METADATA');
    assert.match(
      rec.lastError?.message ?? '',
      /\/imageTimestamp: sidecar\.taken: not in the sidecar; sidecar\.tz: not in the sidecar/,
    );
  });

  it("the stream's time_zone places a key time without an offset, and ianaTimeZone is the same zone", async () => {
    const cfg = configWith(
      { time_zone: '{sidecar.tz ?? vars.tz}', vars: { tz: 'America/Los_Angeles' } },
      { imageTimestamp: { iso8601Time: '{taken_at|iso8601}', ianaTimeZone: '{stream.time_zone}' } },
    );
    const la = await route(cfg, { view: 'Top' });
    assert.equal(la.rec.status, 'QUEUED');
    assert.deepEqual(la.rec.fields?.imageTimestamp, {
      iso8601Time: '2024-03-15T10:15:30.000-07:00',
      ianaTimeZone: 'America/Los_Angeles',
    });
    const berlin = await route(cfg, { view: 'Top', tz: 'europe/berlin' });
    assert.deepEqual(berlin.rec.fields?.imageTimestamp, {
      iso8601Time: '2024-03-15T10:15:30.000+01:00',
      ianaTimeZone: 'Europe/Berlin',
    });
    assert.deepEqual(
      JSON.parse(berlin.sent[0]?.body ?? '{}').fields.imageTimestamp,
      berlin.rec.fields?.imageTimestamp,
    );
  });

  it('a zone that is not IANA is INVALID_TIME_ZONE; a zone that is absent is MISSING_METADATA', async () => {
    const cfg = configWith(
      { time_zone: '{sidecar.tz}' },
      { imageTimestamp: { iso8601Time: '{taken_at|iso8601}', ianaTimeZone: '{stream.time_zone}' } },
    );
    const bad = await route(cfg, { view: 'Top', tz: 'Mars/Olympus_Mons' });
    assert.equal(bad.rec.status, 'REJECTED');
    assert.equal(bad.rec.lastError?.code, 'INVALID_TIME_ZONE');
    assert.match(bad.rec.lastError?.message ?? '', /"Mars\/Olympus_Mons" is not an IANA time zone/);
    const absent = await route(cfg, { view: 'Top' });
    assert.equal(absent.rec.lastError?.code, 'MISSING_METADATA');
    assert.match(
      absent.rec.lastError?.message ?? '',
      /has no UTC offset and the stream's time_zone is unknown: .*sidecar\.tz: not in the sidecar/,
    );
  });

  it("config/example.yaml with its documented sidecar sample routes with Instrumental's real schema", async () => {
    const example = loadConfigFile(
      new URL('../../config/example.yaml', import.meta.url).pathname,
      VENDORS,
      {},
    ).config;
    const aoi = 'line-1/aoi-top/SN1234_20240315T101530.jpg';
    const sample = {
      tz: 'Europe/Berlin',
      image_type: 'AOI top',
      subassemblies: [{ unitSerial: 'BAT-1', relationshipName: 'battery' }],
    };
    const { deps, records } = harness({ [aoi]: '', [`${aoi}.json`]: JSON.stringify(sample) }, example);
    await routeMessage(event(aoi), 1, deps);
    const [rec] = records.values();
    assert.equal(rec?.status, 'QUEUED', JSON.stringify(rec?.lastError));
    assert.deepEqual(rec?.fields?.imageTimestamp, {
      iso8601Time: '2024-03-15T10:15:30.000+01:00',
      ianaTimeZone: 'Europe/Berlin',
    });
  });
});
