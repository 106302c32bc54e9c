import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '#commons/logger.ts';
import { loadConfigFile } from '#domain/config/load.ts';
import type { DataTransmit, RelayConfig } from '#domain/config/types.ts';
import type { DeliveryRecord } from '#domain/delivery.ts';
import { MalformedEventError, type RouterDeps, routeMessage } from '#domain/route.ts';
import { VENDORS } from '#vendors/registry.ts';
import { SETTINGS } from '../../lib/settings.ts';

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

/** The router against in-memory ports, with a clock the test moves (no waiting on the wall clock). */
function harness(
  objects: Record<string, string | undefined>,
  options: { config?: RelayConfig; failSend?: boolean } | RelayConfig = {},
) {
  const opts: { config?: RelayConfig; failSend?: boolean } =
    'version' in options ? { config: options } : options;
  const records = new Map<string, DeliveryRecord>();
  const sent: Array<{ url: string; body: string }> = [];
  const clock = { now: Date.parse('2026-01-01T00:00:10.000Z') };
  const deps: RouterDeps = {
    config: opts.config ?? config,
    vendors: VENDORS,
    queueUrls: { instrumental: 'http://127.0.0.1/queue/instrumental' },
    log: createLogger({}, { level: 'error', sink: () => {} }),
    now: () => clock.now,
    ports: {
      describe: async (ref) =>
        ref.key in objects ? { size: 10, etag: 'e', versionId: 'v1', metadata: {} } : undefined,
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
      send: async (url, messages) => {
        if (opts.failSend) throw new Error('SQS refused 1 message(s): InvalidMessageContents');
        for (const m of messages) sent.push({ url, body: m.body });
      },
      forObject: async (pk) => [...records.values()].filter((r) => r.pk === pk),
      addNotice: async (key, notice) => {
        const r = records.get(`${key.pk}|${key.sk}`);
        if (r) r.notice = notice;
      },
      listKeys: async (_b, prefix) => Object.keys(objects).filter((k) => k.startsWith(prefix)),
    },
  };
  return { deps, records, sent, clock };
}

/** An S3 event for `key`, as if it arrived at 2026-01-01T00:00:00Z. */
const event = (key: string, name = 'ObjectCreated:Put', size = 10) =>
  JSON.stringify({
    Records: [
      {
        eventName: name,
        eventTime: '2026-01-01T00:00:00.000Z',
        s3: { bucket: { name: 'b' }, object: { key, size, eTag: '"e"', versionId: 'v1' } },
      },
    ],
  });

describe('router', () => {
  it('ignores s3:TestEvent', async () => {
    const { deps, records } = harness({});
    const res = await routeMessage(JSON.stringify({ Service: 'Amazon S3', Event: 's3:TestEvent' }), deps);
    assert.deepEqual(res, { kind: 'done', deliveries: 0 });
    assert.equal(records.size, 0);
  });

  it('refuses bodies that are not S3 events', async () => {
    const { deps } = harness({});
    await assert.rejects(routeMessage('not json', deps), MalformedEventError);
    await assert.rejects(routeMessage('{"hello":1}', deps), MalformedEventError);
  });

  it('skips folder markers, removals and the sidecars themselves', async () => {
    const { deps, records } = harness({
      'line-1/A/S1_20260101T000000Z.jpg': '',
      'line-1/A/S1_20260101T000000Z.jpg.json': '{}',
    });
    await routeMessage(event('line-1/A/', 'ObjectCreated:Put', 0), deps);
    await routeMessage(event('line-1/A/S1_20260101T000000Z.jpg', 'ObjectRemoved:Delete'), deps);
    await routeMessage(event('line-1/A/S1_20260101T000000Z.jpg.json'), deps);
    assert.equal(records.size, 0);
  });

  it('routes one delivery per destination, decoding the key once', async () => {
    const key = 'line-1/A B/S+1%_20260101T000000Z.jpg';
    const { deps, records, sent } = harness({ [key]: '', [`${key}.json`]: '{"view":"Top"}' });
    const res = await routeMessage(event('line-1/A+B/S%2B1%25_20260101T000000Z.jpg'), deps);
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
    await routeMessage(event(key), deps);
    await routeMessage(event(key), deps);
    assert.equal(sent.length, 1);
  });

  it('waits for a required sidecar for wait_seconds after the file arrived, then rejects', async () => {
    const key = 'line-1/A/S2_20260101T000000Z.jpg';
    const { deps, records, clock } = harness({ [key]: '' });
    const first = await routeMessage(event(key), deps);
    assert.deepEqual(first, { kind: 'wait', delayMs: 20_000, reason: `waiting for sidecar ${key}.json` });
    assert.equal(records.size, 0, 'nothing recorded while waiting');
    clock.now += 20_000;
    await routeMessage(event(key), deps);
    const [rec] = records.values();
    assert.equal(rec?.status, 'REJECTED');
    assert.equal(rec?.lastError?.code, 'MISSING_SIDECAR');
    assert.equal(rec?.serialNumber, 'S2', 'a rejection is found by its serial');
  });

  it("waits wait_seconds up to the schema maximum within the ingest queue's receives, then decides", async () => {
    for (const wait_seconds of [300, 900]) {
      const long = structuredClone(config);
      const stream = long.data_receiver[0]?.streams[0];
      if (stream) stream.sidecar = { mode: 'append', suffix: '.json', required: true, wait_seconds };
      const key = `line-1/A/S${wait_seconds}_20260101T000000Z.jpg`;
      const { deps, records, clock } = harness({ [key]: '' }, { config: long });
      let receives = 0;
      for (;;) {
        receives++;
        const res = await routeMessage(event(key), deps);
        if (res.kind !== 'wait') break;
        clock.now += res.delayMs;
      }
      // One receive to spare for a transient failure before the dead-letter queue.
      assert.ok(receives < SETTINGS.ingestMaxReceiveCount, `${wait_seconds} s took ${receives} receives`);
      const [rec] = records.values();
      assert.equal(rec?.lastError?.code, 'MISSING_SIDECAR', `recorded after ${wait_seconds} s`);
    }
  });

  it('rejects a delivery whose fields would make a message the queue refuses, instead of failing every send', async () => {
    const big = structuredClone(config);
    const transmit = big.data_transmit[0];
    if (transmit) transmit.fields.tags = '{sidecar.tags}';
    const key = 'line-1/A/S9_20260101T000000Z.jpg';
    // 100 tags (Instrumental's most) of 500 CJK characters: a 150 KB sidecar (under its 256 KiB limit), and
    // 300 KB of message once escaped to SQS-safe ASCII.
    const tags = Array.from({ length: 100 }, () => '検査結果'.repeat(125));
    const { deps, records, sent } = harness(
      { [key]: '', [`${key}.json`]: JSON.stringify({ view: 'Top', tags }) },
      { config: big },
    );
    const res = await routeMessage(event(key), deps);
    assert.equal(res.kind, 'done');
    assert.equal(sent.length, 0);
    const [rec] = records.values();
    assert.equal(rec?.status, 'REJECTED');
    assert.equal(rec?.lastError?.code, 'FIELDS_TOO_LARGE');
    assert.equal(rec?.fields, undefined, 'the record does not keep them either');
  });

  it('skips an event whose object was uploaded again since (unversioned bucket): the newer upload has its own', async () => {
    const key = 'line-1/A/S5_20260101T000000Z.jpg';
    const { deps, records, sent } = harness({ [key]: '', [`${key}.json`]: '{"view":"Top"}' });
    // The object under the key now has ETag "e" (the harness's head); this event was for an earlier "old".
    const stale = JSON.stringify({
      Records: [
        {
          eventName: 'ObjectCreated:Put',
          eventTime: '2026-01-01T00:00:00.000Z',
          s3: { bucket: { name: 'b' }, object: { key, size: 10, eTag: '"old"' } },
        },
      ],
    });
    await routeMessage(stale, deps);
    assert.equal(sent.length, 0, 'the newer bytes are not sent as the older upload');
    const [rec] = records.values();
    assert.equal(rec?.status, 'SKIPPED');
    assert.equal(rec?.notice?.code, 'OBJECT_SUPERSEDED');
    // The newer upload's own event is routed as usual.
    const current = stale.replace('\\"old\\"', '\\"e\\"');
    await routeMessage(current, deps);
    assert.equal(sent.length, 1);
  });

  it('waits a few seconds for an optional sidecar, then sends without it and records that it was missing', async () => {
    const optional = structuredClone(config);
    const stream = optional.data_receiver[0]?.streams[0];
    if (stream) stream.sidecar = { mode: 'append', suffix: '.json', required: false, wait_seconds: 15 };
    const transmit = optional.data_transmit[0];
    if (transmit) transmit.fields.imageType = "{sidecar.view ?? 'Top'}";
    const key = 'line-1/A/S4_20260101T000000Z.jpg';
    const objects: Record<string, string> = { [key]: '' };
    const { deps, records, sent, clock } = harness(objects, { config: optional });
    assert.equal((await routeMessage(event(key), deps)).kind, 'wait');
    clock.now += 5_000;
    await routeMessage(event(key), deps);
    const [rec] = records.values();
    assert.equal(rec?.status, 'QUEUED');
    assert.equal(rec?.sidecar, 'missing');
    assert.equal(sent.length, 1);

    // The sidecar comes after the file was sent: the delivery says so, nothing is sent again.
    objects[`${key}.json`] = '{"view":"Side"}';
    await routeMessage(event(`${key}.json`), deps);
    assert.equal(rec?.notice?.code, 'SIDECAR_LATE');
    assert.equal(sent.length, 1);
  });

  it('records a sidecar whose file never comes, after waiting for it', async () => {
    const sidecar = 'line-1/A/S5_20260101T000000Z.jpg.json';
    const { deps, records, clock } = harness({ [sidecar]: '{}' });
    assert.equal((await routeMessage(event(sidecar), deps)).kind, 'wait');
    clock.now += 60_000;
    await routeMessage(event(sidecar), deps);
    const [rec] = records.values();
    assert.equal(rec?.status, 'UNROUTED');
    assert.equal(rec?.lastError?.code, 'SIDECAR_WITHOUT_FILE');
    assert.equal(rec?.key, sidecar);
  });

  it('keeps a record it could not queue RECEIVED with the reason, and lets the event come back', async () => {
    const key = 'line-1/A/S6_20260101T000000Z.jpg';
    const { deps, records } = harness({ [key]: '', [`${key}.json`]: '{"view":"Top"}' }, { failSend: true });
    await assert.rejects(routeMessage(event(key), deps), /InvalidMessageContents/);
    const [rec] = records.values();
    assert.equal(rec?.status, 'RECEIVED');
    assert.equal(rec?.lastError?.code, 'QUEUE_SEND_FAILED');
    assert.ok(
      Date.parse(rec?.nextCheckAt ?? '') > Date.parse('2026-01-01T00:00:10.000Z'),
      'the sweeper takes it later',
    );
  });

  it('writes queue messages SQS accepts whatever the key holds, and gives the exact key back', async () => {
    // U+FFFF (SQS refuses it), an emoji (outside the BMP), é and a quote.
    const key = 'line-1/A\uFFFF\u{1F600}/S7\u00e9"_20260101T000000Z.jpg';
    const { deps, sent } = harness({ [key]: '', [`${key}.json`]: '{"view":"Top"}' });
    await routeMessage(event(encodeURIComponent(key)), deps);
    const body = sent[0]?.body ?? '';
    assert.match(body, /^[\x20-\x7e]*$/, 'printable ASCII only');
    assert.equal(JSON.parse(body).object.key, key);
  });

  it('records a key matching no stream, once', async () => {
    const { deps, records } = harness({});
    await routeMessage(event('elsewhere/x.jpg'), deps);
    await routeMessage(event('elsewhere/x.jpg'), deps);
    assert.equal(records.size, 1);
    const [rec] = records.values();
    assert.equal(rec?.sk, 'route');
    assert.equal(rec?.lastError?.code, 'NO_MATCHING_STREAM');
  });

  it('rejects a field the sidecar does not give, naming it', async () => {
    const key = 'line-1/A/S3_20260101T000000Z.jpg';
    const { deps, records, sent } = harness({ [key]: '', [`${key}.json`]: '{"other":1}' });
    await routeMessage(event(key), deps);
    const [rec] = records.values();
    assert.equal(rec?.status, 'REJECTED');
    assert.equal(rec?.lastError?.code, 'MISSING_METADATA');
    assert.match(rec?.lastError?.message ?? '', /imageType/);
    assert.equal(sent.length, 0);
  });

  it('a sidecar with a byte-order mark is read; one in UTF-16 is refused saying so', async () => {
    const key = 'line-1/A/S5_20260101T000000Z.jpg';
    const bom = harness({ [key]: '', [`${key}.json`]: '\uFEFF{"view":"Top"}' });
    await routeMessage(event(key), bom.deps);
    const [ok] = bom.records.values();
    assert.equal(ok?.status, 'QUEUED', JSON.stringify(ok?.lastError));
    assert.match(bom.sent[0]?.body ?? '', /"imageType":"Top"/);
    // UTF-16LE with its mark, as read by a UTF-8 decoder: two replacement characters, then NULs between letters.
    const utf16 = Buffer.from('\uFEFF{"view":"Top"}', 'utf16le').toString('utf8');
    const wide = harness({ [key]: '', [`${key}.json`]: utf16 });
    await routeMessage(event(key), wide.deps);
    const [rec] = wide.records.values();
    assert.equal(rec?.status, 'REJECTED');
    assert.equal(rec?.lastError?.code, 'MALFORMED_SIDECAR');
    assert.match(rec?.lastError?.message ?? '', /is not UTF-8 .*UTF-16.*write it as UTF-8/);
    assert.equal(wide.sent.length, 0);
  });

  it('a time that does not parse is INVALID_TIMESTAMP, not missing metadata', async () => {
    const key = 'line-1/A/S4_yesterday.jpg';
    const { deps, records, sent } = harness({ [key]: '', [`${key}.json`]: '{"view":"Top"}' });
    await routeMessage(event(key), deps);
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
    await routeMessage(event(key), deps);
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
    await routeMessage(event(aoi), deps);
    const rec = [...records.values()].find((r) => r.destination === 'instrumental-demo');
    assert.equal(rec?.status, 'QUEUED', JSON.stringify(rec?.lastError));
    assert.deepEqual(rec?.fields?.imageTimestamp, {
      iso8601Time: '2024-03-15T10:15:30.000+01:00',
      ianaTimeZone: 'Europe/Berlin',
    });
  });
});

describe('router: Unicode normalisation of keys', () => {
  // "Prüfstand" and "Müller-1" as a macOS export writes them (u + U+0308), and as a config is typed (ü).
  const nfdStation = 'Pru\u0308fstand';
  const nfdSerial = 'Mu\u0308ller-1';
  const nfcConfig = (pattern: string): RelayConfig => {
    const c = structuredClone(config);
    const stream = c.data_receiver[0]?.streams[0];
    if (stream) stream.key_pattern = pattern;
    const fields = c.data_transmit[0]?.fields;
    if (fields && !pattern.includes('{station}')) fields.stationName = 'Prüfstand';
    return c;
  };

  it('routes an NFD key against an NFC key_pattern, reading S3 by the real key and recording NFC parts', async () => {
    const key = `line-1/${nfdStation}/${nfdSerial}_20260101T000000Z.jpg`;
    const { deps, records, sent } = harness(
      { [key]: '', [`${key}.json`]: '{"view":"Top"}' },
      nfcConfig('line-1/Prüfstand/{serial}_{taken_at}.{ext}'),
    );
    const res = await routeMessage(event(encodeURIComponent(key)), deps);
    assert.deepEqual(res, { kind: 'done', deliveries: 1 });
    const [rec] = records.values();
    assert.equal(rec?.status, 'QUEUED', JSON.stringify(rec?.lastError));
    assert.equal(rec?.key, key, 'the record names the real object');
    assert.equal(rec?.serialNumber, 'Müller-1', 'the serial is found by what a user types');
    assert.equal(rec?.serialNumber, rec?.serialNumber?.normalize('NFC'));
    const body = JSON.parse(sent[0]?.body ?? '{}');
    assert.equal(body.object.key, key, 'the forwarder reads the real object');
    assert.equal(body.fields.serialNumber, 'Müller-1');
  });

  it('{object.key} and {object.basename} stay the real key: a vendor may read the object by it', async () => {
    const key = `line-1/${nfdStation}/${nfdSerial}_20260101T000000Z.jpg`;
    const c = nfcConfig('line-1/Prüfstand/{serial}_{taken_at}.{ext}');
    const t = c.data_transmit[0];
    if (t) t.fields = { ...t.fields, stationName: '{object.key}', imageType: '{object.basename}' };
    const { deps, records } = harness({ [key]: '', [`${key}.json`]: '{}' }, c);
    await routeMessage(event(encodeURIComponent(key)), deps);
    const [rec] = records.values();
    assert.equal(rec?.fields?.stationName, key, 'byte for byte, NFD kept');
    assert.equal(rec?.fields?.imageType, `${nfdSerial}_20260101T000000Z.jpg`);
    assert.equal(rec?.serialNumber, 'Müller-1');
  });

  it('renders {station} and sidecar values in NFC', async () => {
    const key = `line-1/${nfdStation}/S1_20260101T000000Z.jpg`;
    const { deps, records } = harness({
      [key]: '',
      [`${key}.json`]: '{"view":"Oberseite ru\u0308ckwa\u0308rts"}',
    });
    await routeMessage(event(encodeURIComponent(key)), deps);
    const [rec] = records.values();
    assert.equal(rec?.fields?.stationName, 'Prüfstand');
    assert.equal(rec?.fields?.imageType, 'Oberseite rückwärts');
  });

  it('finds the sidecar of an NFD file under its real key', async () => {
    const key = `line-1/${nfdStation}/S2_20260101T000000Z.jpg`;
    const { deps, records } = harness({ [key]: '' }, nfcConfig('line-1/Prüfstand/{serial}_{taken_at}.{ext}'));
    // The sidecar comes first; the file is then looked up by the real (NFD) key.
    const sidecarFirst = await routeMessage(event(encodeURIComponent(`${key}.json`)), deps);
    assert.deepEqual(sidecarFirst, { kind: 'done', deliveries: 0 });
    assert.equal(records.size, 0, 'a sidecar whose file exists is not recorded as a file');
  });

  it('says when an unrouted key is not in NFC', async () => {
    const { deps, records } = harness({});
    await routeMessage(event(encodeURIComponent(`elsewhere/${nfdSerial}.jpg`)), deps);
    const [rec] = records.values();
    assert.equal(rec?.status, 'UNROUTED');
    assert.equal(rec?.lastError?.code, 'NO_MATCHING_STREAM');
    assert.match(rec?.lastError?.message ?? '', /not in Unicode NFC/);
    await routeMessage(event('elsewhere/plain.jpg'), deps);
    const plain = [...records.values()].find((r) => r.key === 'elsewhere/plain.jpg');
    assert.doesNotMatch(plain?.lastError?.message ?? '', /NFC/);
  });
});

describe('router: ignored keys', () => {
  const junk = [
    'line-1/A/._SN1_20240315T101530.jpg',
    'line-1/A/~$SN1_20240315T101530.jpg',
    'line-1/A/SN1_20240315T101530.jpg.tmp',
    'line-1/A/.SN1_20240315T101530.jpg.a1B2c3',
    'line-1/A/.DS_Store',
    '.DS_Store',
    'line-1/Thumbs.db',
  ];

  it('records sync-tool leftovers SKIPPED / IGNORED_KEY and sends nothing (default ignore)', async () => {
    const objects = Object.fromEntries(
      junk.flatMap((k) => [
        [k, ''],
        [`${k}.json`, '{"view":"Top"}'],
      ]),
    );
    const { deps, records, sent } = harness(objects);
    for (const k of junk) await routeMessage(event(encodeURIComponent(k)), deps);
    assert.equal(sent.length, 0);
    assert.equal(records.size, junk.length);
    for (const k of junk) {
      const rec = [...records.values()].find((r) => r.key === k);
      assert.equal(rec?.sk, 'route', k);
      assert.equal(rec?.status, 'SKIPPED', k);
      assert.equal(rec?.notice?.code, 'IGNORED_KEY', k);
      assert.match(rec?.notice?.message ?? '', /matches ignore glob \*\*\/\S+ of receiver r/, k);
      assert.equal(rec?.serialNumber, undefined, `${k} is no unit's file`);
    }
  });

  it('ignore: [] routes everything again; a list replaces the defaults, @defaults keeps them', async () => {
    const withIgnore = (ignore: string[]): RelayConfig => {
      const c = structuredClone(config);
      const r = c.data_receiver[0];
      if (r) r.ignore = ignore;
      return c;
    };
    const apple = 'line-1/A/._SN1_20240315T101530.jpg';
    const bak = 'line-1/A/SN2_20240315T101530.bak';
    const objects = { [apple]: '', [`${apple}.json`]: '{"view":"Top"}', [bak]: '', [`${bak}.json`]: '{}' };

    const none = harness(objects, withIgnore([]));
    await routeMessage(event(apple), none.deps);
    // What happened before `ignore`: the AppleDouble file is taken for a unit "." with a time "SN1_2024…".
    const [routed] = none.records.values();
    assert.equal(routed?.serialNumber, '.', 'nothing ignored');
    assert.equal(routed?.lastError?.code, 'INVALID_TIMESTAMP');

    const own = harness(objects, withIgnore(['**/*.bak']));
    await routeMessage(event(apple), own.deps);
    await routeMessage(event(bak), own.deps);
    const codeOf = (h: ReturnType<typeof harness>, key: string) =>
      [...h.records.values()].find((r) => r.key === key)?.notice?.code;
    assert.equal(codeOf(own, apple), undefined, 'the defaults are replaced');
    assert.equal(codeOf(own, bak), 'IGNORED_KEY');

    const both = harness(objects, withIgnore(['@defaults', '**/*.bak']));
    await routeMessage(event(apple), both.deps);
    await routeMessage(event(bak), both.deps);
    assert.equal(both.sent.length, 0);
    assert.deepEqual(
      [...both.records.values()].map((r) => r.notice?.code),
      ['IGNORED_KEY', 'IGNORED_KEY'],
    );
  });
});
