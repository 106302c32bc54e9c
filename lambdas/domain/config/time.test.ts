import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Temporal } from 'temporal-polyfill';
import { renderTemplate, resolveTimeZone, type TemplateContext } from './template.ts';
import { ctxFor } from './testing.ts';
import { canonicalTimeZone, parseTimestamp, timeZoneProblem, toIso8601 } from './time.ts';

/** toIso8601 that must succeed; also checks that the text denotes `instant` (an ISO string with Z). */
function conv(input: string | number, zone: string, expected: string, instant: string): void {
  const r = toIso8601(input, zone);
  assert.deepEqual(r, { ok: true, value: expected }, `${input} in ${zone}`);
  assert.equal(Date.parse(expected), Date.parse(instant), `${expected} is the moment ${instant}`);
}

describe('iso8601 across daylight-saving changes', () => {
  // America/Los_Angeles 2024: PST (-08:00) → PDT (-07:00) on 10 March at 02:00 local (10:00Z);
  // back to PST on 3 November at 02:00 PDT (09:00Z).
  it('America/Los_Angeles: a time without an offset is that wall clock in the zone', () => {
    conv('20240309T101530', 'America/Los_Angeles', '2024-03-09T10:15:30.000-08:00', '2024-03-09T18:15:30Z');
    conv(
      '2024-03-10T01:59:59',
      'America/Los_Angeles',
      '2024-03-10T01:59:59.000-08:00',
      '2024-03-10T09:59:59Z',
    );
    conv(
      '2024-03-10T03:00:00',
      'America/Los_Angeles',
      '2024-03-10T03:00:00.000-07:00',
      '2024-03-10T10:00:00Z',
    );
    conv('20240315T101530', 'America/Los_Angeles', '2024-03-15T10:15:30.000-07:00', '2024-03-15T17:15:30Z');
    conv(
      '2024-11-03_00-59-59',
      'America/Los_Angeles',
      '2024-11-03T00:59:59.000-07:00',
      '2024-11-03T07:59:59Z',
    );
    conv(
      '2024-11-03T02:00:00',
      'America/Los_Angeles',
      '2024-11-03T02:00:00.000-08:00',
      '2024-11-03T10:00:00Z',
    );
    conv('20241215_080000', 'America/Los_Angeles', '2024-12-15T08:00:00.000-08:00', '2024-12-15T16:00:00Z');
  });

  it('America/Los_Angeles: a spring-forward gap time moves later by the gap; a fall-back time is the earlier instant', () => {
    // 02:30 on 10 March does not exist (02:00 → 03:00): 03:30 PDT.
    conv('20240310T023000', 'America/Los_Angeles', '2024-03-10T03:30:00.000-07:00', '2024-03-10T10:30:00Z');
    // 01:30 on 3 November happens twice (PDT, then PST): the first, PDT.
    conv('20241103T013000', 'America/Los_Angeles', '2024-11-03T01:30:00.000-07:00', '2024-11-03T08:30:00Z');
  });

  // Europe/Berlin 2024: CET (+01:00) → CEST (+02:00) on 31 March at 02:00 local (01:00Z);
  // back to CET on 27 October at 03:00 CEST (01:00Z).
  it('Europe/Berlin: before, after, in the gap and in the repeated hour', () => {
    conv('2024-03-31T01:59:00', 'Europe/Berlin', '2024-03-31T01:59:00.000+01:00', '2024-03-31T00:59:00Z');
    conv('2024-03-31T02:30:00', 'Europe/Berlin', '2024-03-31T03:30:00.000+02:00', '2024-03-31T01:30:00Z');
    conv('2024-03-31T03:00:00', 'Europe/Berlin', '2024-03-31T03:00:00.000+02:00', '2024-03-31T01:00:00Z');
    conv(
      '2024-07-15 12:00:00.250',
      'Europe/Berlin',
      '2024-07-15T12:00:00.250+02:00',
      '2024-07-15T10:00:00.250Z',
    );
    conv('2024-10-27T02:30:00', 'Europe/Berlin', '2024-10-27T02:30:00.000+02:00', '2024-10-27T00:30:00Z');
    conv('2024-10-27T03:00:00', 'Europe/Berlin', '2024-10-27T03:00:00.000+01:00', '2024-10-27T02:00:00Z');
    conv('2024-01-15', 'Europe/Berlin', '2024-01-15T00:00:00.000+01:00', '2024-01-14T23:00:00Z');
  });

  it('every quarter hour of the four change days maps to a moment whose wall clock in the zone is the same (outside the gap)', () => {
    const days: Array<[string, string]> = [
      ['America/Los_Angeles', '2024-03-10'],
      ['America/Los_Angeles', '2024-11-03'],
      ['Europe/Berlin', '2024-03-31'],
      ['Europe/Berlin', '2024-10-27'],
    ];
    for (const [zone, day] of days) {
      // The zone's wall clock at an instant, by Intl (sv-SE writes "2024-03-10 03:30:00").
      const wallOf = (at: number) =>
        new Date(at).toLocaleString('sv-SE', { timeZone: zone }).replace(' ', 'T');
      let gaps = 0;
      let previous = Number.NEGATIVE_INFINITY;
      for (let m = 0; m < 24 * 60; m += 15) {
        const wall = `${day}T${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}:00`;
        const r = toIso8601(wall, zone);
        assert.ok(r.ok, wall);
        const at = Date.parse(r.value);
        const shown = wallOf(at);
        if (shown === wall) {
          assert.ok(at > previous, `${wall} in ${zone} comes after the previous wall-clock time`);
          previous = at;
          continue;
        }
        // Only the gap hour differs, and it is shown one hour later.
        gaps++;
        assert.equal(Date.parse(`${wall}Z`) + 3_600_000, Date.parse(`${shown}Z`), `${wall} → ${shown}`);
      }
      assert.equal(gaps, day.endsWith('-03-10') || day.endsWith('-03-31') ? 4 : 0, `${zone} ${day}`);
    }
  });
});

describe('iso8601: instants stay instants', () => {
  it('a time with an offset is the same moment, written with the zone offset', () => {
    conv(
      '2024-03-15T19:15:30+02:00',
      'America/Los_Angeles',
      '2024-03-15T10:15:30.000-07:00',
      '2024-03-15T17:15:30Z',
    );
    conv('20240315T171530Z', 'Europe/Berlin', '2024-03-15T18:15:30.000+01:00', '2024-03-15T17:15:30Z');
    // In the repeated hour an offset picks one of the two: the second 01:30 stays the second.
    conv(
      '2024-11-03T09:30:00Z',
      'America/Los_Angeles',
      '2024-11-03T01:30:00.000-08:00',
      '2024-11-03T09:30:00Z',
    );
    conv(
      '2024-11-03T01:30:00-08:00',
      'America/Los_Angeles',
      '2024-11-03T01:30:00.000-08:00',
      '2024-11-03T09:30:00Z',
    );
  });

  it('epoch seconds and milliseconds are instants, whatever the zone', () => {
    const at = Date.parse('2024-11-03T09:30:00Z');
    conv(String(at / 1000), 'America/Los_Angeles', '2024-11-03T01:30:00.000-08:00', '2024-11-03T09:30:00Z');
    conv(at + 250, 'Europe/Berlin', '2024-11-03T10:30:00.250+01:00', '2024-11-03T09:30:00.250Z');
    conv(at / 1000, 'UTC', '2024-11-03T09:30:00.000Z', '2024-11-03T09:30:00Z');
  });

  it('digits that are a date in another layout are refused, not read as a wrong epoch time', () => {
    const cases: Array<[string | number, RegExp]> = [
      ['240315101530', /epoch milliseconds is outside 2000–2100 \(1977-/], // YYMMDDHHmmss
      [20240315101530, /epoch milliseconds is outside 2000–2100 \(2611-/], // YYYYMMDDHHmmss as a number
      [20240315, /epoch seconds is outside 2000–2100 \(1970-/], // YYYYMMDD as a number
      [1710497730123456, /epoch milliseconds is outside 2000–2100 \(\+056173-.*write the time in ISO 8601/], // µs
      [0, /epoch seconds is outside 2000–2100 \(1970-01-01/],
    ];
    for (const [input, reason] of cases) {
      const r = toIso8601(input, 'Europe/Berlin');
      assert.equal(r.ok, false, String(input));
      assert.ok(!r.ok && r.cause === 'invalid-timestamp');
      assert.match(r.ok ? '' : r.reason, reason, String(input));
    }
    // The edges of the window, as seconds and as milliseconds.
    assert.equal(toIso8601(946_684_800).ok, true);
    assert.equal(toIso8601(946_684_799).ok, false);
    assert.equal(toIso8601('4102444799999').ok, true);
    assert.equal(toIso8601('4102444800').ok, false);
  });

  it('a zero offset is written Z; UTC is the default zone', () => {
    assert.deepEqual(toIso8601('20240315T101530'), { ok: true, value: '2024-03-15T10:15:30.000Z' });
    conv('2024-01-15T12:00:00', 'Europe/London', '2024-01-15T12:00:00.000Z', '2024-01-15T12:00:00Z');
    conv('2024-07-15T12:00:00', 'Europe/London', '2024-07-15T12:00:00.000+01:00', '2024-07-15T11:00:00Z');
  });
});

describe('time zone names', () => {
  it('IANA names are accepted and canonicalised; offsets and unknown names are not', () => {
    assert.equal(canonicalTimeZone('America/Los_Angeles'), 'America/Los_Angeles');
    assert.equal(canonicalTimeZone('america/los_angeles'), 'America/Los_Angeles');
    assert.equal(canonicalTimeZone('UTC'), 'UTC');
    assert.equal(canonicalTimeZone('Etc/UTC'), 'Etc/UTC');
    for (const bad of ['+05:00', '-0800', 'Mars/Olympus_Mons', 'PST8', '', 'Europe/Berlin ', 'GMT+1:00']) {
      assert.equal(canonicalTimeZone(bad), undefined, bad);
      assert.ok(timeZoneProblem(bad), bad);
    }
    assert.match(timeZoneProblem('+05:00') ?? '', /UTC offset, not an IANA time zone/);
    assert.deepEqual(toIso8601('20240315T101530', 'Mars/Olympus_Mons'), {
      ok: false,
      reason:
        '"Mars/Olympus_Mons" is not an IANA time zone (e.g. "America/Los_Angeles", "Europe/Berlin", "UTC")',
      cause: 'invalid-time-zone',
    });
  });

  it('parseTimestamp tells instants from wall clocks', () => {
    assert.equal((parseTimestamp('2024-03-15T10:15:30') as { kind: string }).kind, 'wall');
    assert.equal((parseTimestamp('2024-03-15T10:15:30Z') as { kind: string }).kind, 'instant');
    assert.equal((parseTimestamp(1710497730) as { kind: string }).kind, 'instant');
    assert.equal(parseTimestamp('99999999999999999').ok, false);
  });
});

describe('templates and the stream time zone', () => {
  const base = ctxFor({
    parts: { taken_at: '20240315T101530', bad: 'yesterday' },
    sidecar: { tz: 'Europe/Berlin', lower: 'asia/tokyo', wrong: 'Mars/Base', offset: '+02:00' },
    vars: { tz: 'America/Los_Angeles' },
  });
  const withZone = (timeZone: TemplateContext['timeZone']): TemplateContext => ({ ...base, timeZone });
  const render = (t: string, c: TemplateContext) => renderTemplate(t, c);

  it('resolveTimeZone: default UTC, first source that resolves, canonical names', () => {
    assert.deepEqual(resolveTimeZone(undefined, base), { ok: true, zone: 'UTC' });
    assert.deepEqual(resolveTimeZone('Asia/Tokyo', base), { ok: true, zone: 'Asia/Tokyo' });
    assert.deepEqual(resolveTimeZone('{sidecar.tz ?? vars.tz}', base), { ok: true, zone: 'Europe/Berlin' });
    assert.deepEqual(resolveTimeZone('{sidecar.none ?? meta.tz ?? vars.tz}', base), {
      ok: true,
      zone: 'America/Los_Angeles',
    });
    assert.deepEqual(resolveTimeZone('{sidecar.lower}', base), { ok: true, zone: 'Asia/Tokyo' });
  });

  it('resolveTimeZone: absent, not IANA, or reading itself, each with a reason', () => {
    const absent = resolveTimeZone('{sidecar.none ?? meta.tz}', base);
    assert.equal(absent.ok, false);
    assert.equal('cause' in absent, false, 'absent is not invalid');
    assert.match(
      absent.ok ? '' : absent.reason,
      /sidecar\.none: not in the sidecar; meta\.tz: no such user metadata/,
    );
    for (const t of ['{sidecar.wrong}', '{sidecar.offset}', 'Mars/Base']) {
      const r = resolveTimeZone(t, base);
      assert.equal(r.ok === false && r.cause, 'invalid-time-zone', t);
    }
    assert.equal(resolveTimeZone('{stream.time_zone}', base).ok, false);
  });

  it('{stream.time_zone} and iso8601 read the same resolved zone', () => {
    const la = withZone({ ok: true, zone: 'America/Los_Angeles' });
    assert.equal(render('{stream.time_zone}', la).value, 'America/Los_Angeles');
    assert.equal(render('{taken_at|iso8601}', la).value, '2024-03-15T10:15:30.000-07:00');
    assert.equal(render('{stream.time_zone}', base).value, 'UTC', 'no time_zone: UTC');
    assert.equal(render('{taken_at|iso8601}', base).value, '2024-03-15T10:15:30.000Z');
  });

  it('iso8601:<zone> names the zone of this one value', () => {
    const la = withZone({ ok: true, zone: 'America/Los_Angeles' });
    assert.equal(render('{taken_at|iso8601:Europe/Berlin}', la).value, '2024-03-15T10:15:30.000+01:00');
    assert.equal(render("{taken_at|iso8601:'Asia/Tokyo'}", la).value, '2024-03-15T10:15:30.000+09:00');
    assert.deepEqual(render('{taken_at|iso8601:Mars/Base}', la).missing, [
      {
        json_path: [],
        expr: 'taken_at|iso8601:Mars/Base',
        reason:
          'iso8601: "Mars/Base" is not an IANA time zone (e.g. "America/Los_Angeles", "Europe/Berlin", "UTC")',
        cause: 'invalid-time-zone',
      },
    ]);
  });

  it('an unresolved zone fails a time without an offset (with why) but not an instant', () => {
    const absent = withZone({ ok: false, reason: 'sidecar.tz: the object has no sidecar' });
    const r = render('{taken_at|iso8601}', absent);
    assert.equal(r.value, undefined);
    assert.deepEqual(r.missing, [
      {
        json_path: [],
        expr: 'taken_at|iso8601',
        reason:
          'iso8601: "20240315T101530" has no UTC offset and the stream\'s time_zone is unknown: sidecar.tz: the object has no sidecar',
      },
    ]);
    assert.equal(render("{'2024-03-15T10:15:30+01:00'|iso8601}", absent).value, '2024-03-15T09:15:30.000Z');
    const invalid = withZone({ ok: false, reason: 'gave "Mars/Base"', cause: 'invalid-time-zone' });
    assert.equal(render('{taken_at|iso8601}', invalid).missing[0]?.cause, 'invalid-time-zone');
    assert.equal(render('{stream.time_zone}', invalid).missing[0]?.cause, 'invalid-time-zone');
    assert.equal(render('{stream.time_zone}', absent).missing[0]?.cause, undefined);
  });

  it('a value that is not a time is invalid, not missing; default: still rescues it', () => {
    assert.equal(render('{bad|iso8601}', base).missing[0]?.cause, 'invalid-timestamp');
    assert.equal(render("{bad|iso8601|default:'n/a'}", base).value, 'n/a');
    assert.equal(render('{none|iso8601}', base).missing[0]?.cause, undefined, 'absent stays absent');
  });
});

describe('the same answers as Temporal (temporal-polyfill, a dev dependency) over every zone of the runtime', () => {
  const zones = Intl.supportedValuesOf('timeZone');
  const temporalId = (name: string): string | undefined => {
    try {
      return Temporal.Instant.fromEpochMilliseconds(0).toZonedDateTimeISO(name).timeZoneId;
    } catch {
      return undefined;
    }
  };

  it('zone names: every listed zone in any case, links as written, ICU-only and bad names refused', () => {
    const names = [
      ...zones,
      ...zones.map((z) => z.toLowerCase()),
      ...zones.map((z) => z.toUpperCase()),
      // Links (IANA `backward`) written as IANA writes them.
      ...['Etc/UTC', 'Etc/GMT', 'GMT', 'US/Pacific', 'US/Eastern', 'Asia/Kolkata', 'Asia/Calcutta'],
      ...['Europe/Kiev', 'EST5EDT', 'PST8PDT', 'CET', 'EST', 'MST', 'HST', 'Etc/GMT+5', 'Etc/GMT-14'],
      ...['Japan', 'Zulu', 'Universal', 'UCT', 'GB', 'NZ', 'Cuba', 'utc', 'Utc'],
      // ICU-only ids and names that are no zones.
      ...['PST', 'pst', 'BST', 'IST', 'AET', 'VST', 'CTT', 'Etc/GMT+15', 'Factory', 'Etc/Unknown', 'X/Y'],
    ];
    for (const name of names) assert.equal(canonicalTimeZone(name), temporalId(name), name);
  });

  /** Each offset change of the zone from 2023 to 2025 (Temporal's transitions), found once per zone. */
  const found = new Map<string, Temporal.ZonedDateTime[]>();
  const transitions = (zone: string): Temporal.ZonedDateTime[] => {
    let out = found.get(zone);
    if (out) return out;
    out = [];
    let z = Temporal.Instant.from('2023-01-01T00:00:00Z')
      .toZonedDateTimeISO(zone)
      .getTimeZoneTransition('next');
    while (z && z.year < 2026) {
      out.push(z);
      z = z.getTimeZoneTransition('next');
    }
    found.set(zone, out);
    return out;
  };
  const HOUR = 3_600_000;

  it('the offset written for an instant: around each change from 2023 to 2025, and at other moments', () => {
    const fixed = [
      Date.UTC(1850, 5, 1),
      Date.UTC(1900, 0, 1, 12),
      Date.UTC(1945, 7, 15),
      0,
      Date.UTC(2037, 6, 1),
    ];
    for (let t = Date.UTC(2024, 0, 1, 7, 13); t < Date.UTC(2025, 0, 1); t += 61 * 24 * HOUR) fixed.push(t);
    for (const zone of zones) {
      const instants = [...fixed];
      for (const z of transitions(zone)) {
        const at = z.epochMilliseconds;
        instants.push(at - 1, at, at + HOUR);
      }
      for (const at of instants) {
        const z = Temporal.Instant.fromEpochMilliseconds(at).toZonedDateTimeISO(zone);
        const offsetMs = z.offsetNanoseconds / 1e6;
        const expected =
          offsetMs !== 0 && offsetMs % 60_000 === 0
            ? `${z.toPlainDateTime().toString({ fractionalSecondDigits: 3 })}${z.offset}`
            : new Date(at).toISOString();
        // As an ISO 8601 instant: the historical moments (1850, 1900…) are outside the epoch window.
        assert.deepEqual(
          toIso8601(new Date(at).toISOString(), zone),
          { ok: true, value: expected },
          `${new Date(at).toISOString()} in ${zone}`,
        );
      }
    }
  });

  it('wall clocks: every half hour from 3 h before to 3 h after each change (gaps, folds), and at noon', () => {
    for (const zone of zones) {
      const walls = ['2024-06-15T12:00:00', '2024-12-15T12:00:00'];
      for (const z of transitions(zone)) {
        const start = z.subtract({ hours: 3 }).toPlainDateTime();
        for (let m = 0; m <= 6 * 60; m += 30) walls.push(start.add({ minutes: m }).toString());
      }
      for (const wall of walls) {
        const expected = Temporal.PlainDateTime.from(wall)
          .toZonedDateTime(zone, { disambiguation: 'compatible' })
          .toInstant().epochMilliseconds;
        const r = toIso8601(wall, zone);
        assert.ok(r.ok, `${wall} in ${zone}`);
        assert.equal(Date.parse(r.value), expected, `${wall} in ${zone}: ${r.value}`);
      }
    }
  });
});
