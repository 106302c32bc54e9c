/**
 * Times without an offset, end to end: keys named with a camera's wall clock in two zones, on both sides of a
 * daylight-saving change, go through the local stack (router → queue → forwarder) to the Instrumental
 * simulator, which must receive the right moment and the zone it was read in.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeJpeg } from '#simulators/media/index.ts';
import { type Harness, instrumentalTransmit, startHarness, type Uploaded } from './harness.ts';

let h: Harness;
before(async () => {
  h = await startHarness({
    // A stream whose clocks are in Los Angeles, unless an object's S3 metadata names its zone.
    stream: { time_zone: '{meta.tz ?? vars.tz}', vars: { tz: 'America/Los_Angeles' } },
    transmits: (simUrl) => {
      const t = instrumentalTransmit('instrumental-main', simUrl, 'relay-tests/instrumental');
      return [
        {
          ...t,
          fields: {
            ...t.fields,
            imageTimestamp: { iso8601Time: '{taken_at|iso8601}', ianaTimeZone: '{stream.time_zone}' },
          },
        },
      ];
    },
  });
});
after(() => h?.stop());

interface Case {
  name: string;
  key: string;
  tz?: string;
  /** What the simulator must receive. */
  iso8601Time: string;
  ianaTimeZone: string;
  /** The moment it denotes. */
  instant: string;
}

const cases: Case[] = [
  {
    name: 'Los Angeles, the day before spring forward (PST)',
    key: 'line-1/AOI-TZ/SN-TZ01_20240309T101530.jpg',
    iso8601Time: '2024-03-09T10:15:30.000-08:00',
    ianaTimeZone: 'America/Los_Angeles',
    instant: '2024-03-09T18:15:30Z',
  },
  {
    name: 'Los Angeles, the day after (PDT)',
    key: 'line-1/AOI-TZ/SN-TZ02_20240311T101530.jpg',
    iso8601Time: '2024-03-11T10:15:30.000-07:00',
    ianaTimeZone: 'America/Los_Angeles',
    instant: '2024-03-11T17:15:30Z',
  },
  {
    name: 'Los Angeles, 02:30 in the spring-forward gap (later by the gap)',
    key: 'line-1/AOI-TZ/SN-TZ03_20240310T023000.jpg',
    iso8601Time: '2024-03-10T03:30:00.000-07:00',
    ianaTimeZone: 'America/Los_Angeles',
    instant: '2024-03-10T10:30:00Z',
  },
  {
    name: 'Berlin (from S3 metadata), the day before spring forward (CET)',
    key: 'line-1/AOI-TZ/SN-TZ04_20240330T101530.jpg',
    tz: 'Europe/Berlin',
    iso8601Time: '2024-03-30T10:15:30.000+01:00',
    ianaTimeZone: 'Europe/Berlin',
    instant: '2024-03-30T09:15:30Z',
  },
  {
    name: 'Berlin, the day after (CEST)',
    key: 'line-1/AOI-TZ/SN-TZ05_20240401T101530.jpg',
    tz: 'Europe/Berlin',
    iso8601Time: '2024-04-01T10:15:30.000+02:00',
    ianaTimeZone: 'Europe/Berlin',
    instant: '2024-04-01T08:15:30Z',
  },
  {
    name: 'Berlin, 02:30 in the repeated fall-back hour (the earlier moment)',
    key: 'line-1/AOI-TZ/SN-TZ06_2024-10-27_02-30-00.jpg',
    tz: 'Europe/Berlin',
    iso8601Time: '2024-10-27T02:30:00.000+02:00',
    ianaTimeZone: 'Europe/Berlin',
    instant: '2024-10-27T00:30:00Z',
  },
  {
    name: 'a key time with an offset stays that moment (Los Angeles, second 01:30 of fall-back day)',
    key: 'line-1/AOI-TZ/SN-TZ07_20241103T093000Z.jpg',
    iso8601Time: '2024-11-03T01:30:00.000-08:00',
    ianaTimeZone: 'America/Los_Angeles',
    instant: '2024-11-03T09:30:00Z',
  },
];

describe('times without an offset arrive at Instrumental as the right moment', () => {
  // All uploaded at once (as a sync would), then each followed to its end.
  let uploads: Map<string, Promise<Uploaded>>;
  before(() => {
    uploads = new Map(
      cases.map((c) => [
        c.key,
        h.upload(c.key, makeJpeg({ width: 16, height: 16, seed: 3 }), c.tz ? { tz: c.tz } : {}),
      ]),
    );
  });

  for (const c of cases) {
    it(c.name, async () => {
      const obj = await uploads.get(c.key)!;
      const rec = await h.waitForStatus(obj, ['UPLOADED', 'REJECTED', 'FAILED_VALIDATION', 'DEAD'], 60_000);
      assert.equal(rec.status, 'UPLOADED', JSON.stringify(rec.lastError));
      const file = h.sim.files().find((f) => f.fileId === rec.vendorRef);
      assert.ok(file, 'the simulator stored the file');
      assert.deepEqual(file.data.imageTimestamp, {
        iso8601Time: c.iso8601Time,
        ianaTimeZone: c.ianaTimeZone,
      });
      assert.equal(Date.parse(file.data.imageTimestamp.iso8601Time), Date.parse(c.instant));
    });
  }
});
