/**
 * Timestamps and time zones, for the `iso8601` filter and a stream's `time_zone`. Pure: no I/O.
 *
 * Zone math is the runtime's IANA database through `Intl.DateTimeFormat` (ICU): the offset a zone has at an
 * instant is read from the wall clock Intl shows there; no offset table is written here. The rules are
 * Temporal's (what this module used before, through temporal-polyfill, which reads the same ICU data through
 * the same Intl calls; its 55 KiB left the router's bundle — time.test.ts compares the two over every zone):
 *
 * - A timestamp WITH an offset (`Z`, `+02:00`) or an epoch number is an instant: it stays that moment.
 * - A timestamp WITHOUT an offset is a wall-clock time in a zone (the stream's `time_zone`, or the filter's
 *   argument). Daylight-saving transitions follow Temporal's `compatible` disambiguation:
 *   - a time in a spring-forward gap (02:30 on the day clocks jump 02:00 → 03:00) does not exist; it is moved
 *     LATER by the length of the gap (→ 03:30, the new offset);
 *   - an ambiguous fall-back time (01:30 on the day clocks go 02:00 → 01:00 happens twice) is the EARLIER of
 *     the two instants (the first 01:30, with the summer offset).
 * - Output: ISO 8601 with milliseconds, the instant written with the UTC offset the zone has at that instant
 *   (`2024-03-15T10:15:30.000-07:00` in America/Los_Angeles), so the wall clock stays readable; a zero offset
 *   is written `Z`. Digits beyond milliseconds are truncated.
 */

type Scalar = string | number | boolean;

/** Why a time could not be produced: the input is not a timestamp, or a zone is not an IANA zone. */
export type TimeFailure = { ok: false; reason: string; cause: 'invalid-timestamp' | 'invalid-time-zone' };

/** A wall-clock time without an offset: it needs a zone to be an instant. */
export interface WallClock {
  ok: true;
  kind: 'wall';
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  millisecond: number;
}

/** A parsed timestamp: an instant (offset or epoch), or a wall-clock time that still needs a zone. */
export type ParsedTime = { ok: true; kind: 'instant'; epochMs: number } | WallClock | TimeFailure;

/** IANA names: `Area/Location`, `UTC`, `EST5EDT`… (letters first); offsets such as `+05:00` are not zones. */
const ZONE_NAME = /^[A-Za-z][A-Za-z0-9_+\-/]*$/;
/**
 * ICU's own three-letter ids, which are no IANA zones (to ICU `BST` is Asia/Dhaka, `IST` Asia/Calcutta):
 * refused, as Temporal refuses them.
 */
const ICU_ONLY = new Set(
  'ACT AET AGT ART AST BET BST CAT CNT CST CTT EAT ECT IET IST JST MIT NET NST PLT PNT PRT PST SST VST'.split(
    ' ',
  ),
);
const zoneCache = new Map<string, string | undefined>();
let canonicalIds: Map<string, string> | undefined;

/**
 * The canonical spelling of an IANA time zone name (`america/los_angeles` → `America/Los_Angeles`), or
 * undefined when the name is not a zone of the IANA database known to this runtime's ICU. A zone of the
 * runtime's list (`Intl.supportedValuesOf('timeZone')`) is matched in any case; a link ICU knows but does not
 * list (`Etc/UTC`, `US/Pacific`) is kept as written (ICU reads it in any case, so it names the same zone).
 */
export function canonicalTimeZone(name: string): string | undefined {
  if (zoneCache.has(name)) return zoneCache.get(name);
  let out: string | undefined;
  const upper = name.toUpperCase();
  if (upper === 'UTC') out = 'UTC';
  else if (ZONE_NAME.test(name) && !ICU_ONLY.has(upper)) {
    canonicalIds ??= new Map(Intl.supportedValuesOf('timeZone').map((id) => [id.toLowerCase(), id]));
    out = canonicalIds.get(name.toLowerCase());
    if (out === undefined && formatterOf(name) !== undefined) out = name;
  }
  if (zoneCache.size < 1000) zoneCache.set(name, out);
  return out;
}

const formatters = new Map<string, Intl.DateTimeFormat | undefined>();

/** A formatter of the zone's wall clock (era, year … second, 24 h), or undefined when ICU has no such zone. */
function formatterOf(zone: string): Intl.DateTimeFormat | undefined {
  if (formatters.has(zone)) return formatters.get(zone);
  let f: Intl.DateTimeFormat | undefined;
  try {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      calendar: 'iso8601',
      hourCycle: 'h23',
      era: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  } catch {
    f = undefined;
  }
  if (formatters.size < 1000) formatters.set(zone, f);
  return f;
}

/** Milliseconds of a date and time read as if it were UTC (any year, including 0–99 and BCE). */
function utcMs(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, 0);
  return d.getTime();
}

/** The UTC offset (ms) `zone` has at the instant `epochMs`: its wall clock there minus the instant. */
function offsetAt(zone: string, epochMs: number): number {
  const f = formatterOf(zone);
  if (!f) throw new RangeError(`unknown time zone ${zone}`);
  const second = Math.floor(epochMs / 1000) * 1000;
  const p: Record<string, string> = {};
  for (const part of f.formatToParts(second)) p[part.type] = part.value;
  const year = Number(p.year);
  const wall = utcMs(
    p.era === 'BC' || p.era === 'B' ? 1 - year : year,
    Number(p.month),
    Number(p.day),
    Number(p.hour),
    Number(p.minute),
    Number(p.second),
  );
  return wall - second;
}

/** Why `name` is not a zone, or undefined when it is one. */
export function timeZoneProblem(name: string): string | undefined {
  if (canonicalTimeZone(name) !== undefined) return undefined;
  return /^[+-]\d/.test(name)
    ? `"${name}" is a UTC offset, not an IANA time zone (write e.g. "America/Los_Angeles" or "UTC")`
    : `"${name}" is not an IANA time zone (e.g. "America/Los_Angeles", "Europe/Berlin", "UTC")`;
}

const TIME_FORMATS: RegExp[] = [
  // ISO 8601 extended, `T` or space separator, optional seconds/fraction/offset; or date only.
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i,
  // Compact: YYYYMMDDTHHmmss[.SSS][Z|±HHmm]
  /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(?:[.,](\d+))?(Z|[+-]\d{2}(?::?\d{2})?)?$/i,
  // YYYYMMDD_HHmmss[.SSS]
  /^(\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})(?:[.,](\d+))?()$/,
  // YYYY-MM-DD_HH-mm-ss[.SSS]
  /^(\d{4})-(\d{2})-(\d{2})_(\d{2})-(\d{2})-(\d{2})(?:[.,](\d+))?()$/,
];

/**
 * Reads a timestamp. Accepts ISO 8601 (`T` or space, date only too), compact `YYYYMMDDTHHmmss[.SSS][Z|±hhmm]`,
 * `YYYYMMDD_HHmmss`, `YYYY-MM-DD_HH-mm-ss`, epoch seconds (9–10 digits, optional fraction) or milliseconds
 * (12–13 digits); a JSON number is seconds below 1e11, else milliseconds. Impossible dates are refused, and so
 * are epoch values outside 2000–2100 (EPOCH_MIN_MS).
 */
export function parseTimestamp(input: Scalar): ParsedTime {
  const bad: TimeFailure = {
    ok: false,
    reason: `${JSON.stringify(input)} is not a recognised timestamp`,
    cause: 'invalid-timestamp',
  };
  if (typeof input === 'boolean') return bad;
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) return bad;
    const seconds = Math.abs(input) < 1e11;
    return epoch(seconds ? input * 1000 : input, seconds ? 'seconds' : 'milliseconds', input, bad);
  }
  const s = input.trim();
  if (/^\d{9,10}(\.\d+)?$/.test(s)) return epoch(Number(s) * 1000, 'seconds', input, bad);
  if (/^\d{12,13}$/.test(s)) return epoch(Number(s), 'milliseconds', input, bad);
  for (const re of TIME_FORMATS) {
    const m = re.exec(s);
    if (m) return fromParts(m, bad);
  }
  return bad;
}

/**
 * Epoch values are taken only between 2000 and 2100. A digit string or number outside that is far more likely a
 * date in another layout (`YYMMDDHHmmss` read as epoch milliseconds is 1977; `20240315` as seconds is 1970; a
 * `YYYYMMDDHHmmss` number as milliseconds is 2611; microseconds are tens of thousands of years ahead) than a
 * camera's real clock, and sending such a time to a vendor would be wrong data, silently.
 */
const EPOCH_MIN_MS = Date.UTC(2000, 0, 1);
const EPOCH_MAX_MS = Date.UTC(2100, 0, 1);

function epoch(ms: number, unit: 'seconds' | 'milliseconds', input: Scalar, bad: TimeFailure): ParsedTime {
  if (ms >= EPOCH_MIN_MS && ms < EPOCH_MAX_MS) return instant(ms, bad);
  const read = Math.abs(ms) <= MAX_EPOCH_MS ? ` (${new Date(Math.trunc(ms)).toISOString()})` : '';
  return {
    ...bad,
    reason: `${JSON.stringify(input)} read as epoch ${unit} is outside 2000–2100${read}; write the time in ISO 8601 (e.g. 2024-03-15T10:15:30) or as YYYYMMDDTHHmmss`,
  };
}

/** Largest instant Date (and Temporal) can hold: ±8.64e15 ms. */
const MAX_EPOCH_MS = 8.64e15;

function instant(ms: number, bad: TimeFailure): ParsedTime {
  const epochMs = Math.trunc(ms);
  if (!Number.isFinite(epochMs) || Math.abs(epochMs) > MAX_EPOCH_MS) return bad;
  return { ok: true, kind: 'instant', epochMs };
}

function fromParts(m: RegExpExecArray, bad: TimeFailure): ParsedTime {
  const [, y, mo, d, h = '00', mi = '00', sec = '00', frac = '', off = ''] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(sec);
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth) return bad;
  if (hour > 23 || minute > 59 || second > 59) return bad;
  const millisecond = Number(frac.slice(0, 3).padEnd(3, '0'));
  const wall = { year, month, day, hour, minute, second, millisecond };
  if (off === '') return { ok: true, kind: 'wall', ...wall };
  let offsetMinutes = 0;
  if (off.toUpperCase() !== 'Z') {
    const digits = off.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = Number(digits.slice(2) || '0');
    if (oh > 23 || om > 59) return bad;
    offsetMinutes = (off[0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day);
  utc.setUTCHours(hour, minute, second, millisecond);
  return instant(utc.getTime() - offsetMinutes * 60_000, bad);
}

const DAY_MS = 86_400_000;

/** The instants whose wall clock in `zone` reads `localMs` (as if UTC): none (a gap), one, or two (a fold). */
function instantsOf(localMs: number, zone: string): number[] {
  const offsets = new Set([offsetAt(zone, localMs - DAY_MS), offsetAt(zone, localMs + DAY_MS)]);
  const out: number[] = [];
  for (const offset of offsets) {
    const at = localMs - offset;
    if (offsetAt(zone, at) === offset) out.push(at);
  }
  return out.sort((a, b) => a - b);
}

/**
 * The instant of a wall-clock time in `zone` (a canonical IANA name), DST by Temporal's `compatible` rule: in a
 * fold the earlier instant; in a gap the wall clock moved later by the gap's length (the offset change around it).
 */
export function wallClockToEpochMs(wall: WallClock, zone: string): number {
  const { year, month, day, hour, minute, second, millisecond } = wall;
  const localMs = utcMs(year, month, day, hour, minute, second) + millisecond;
  const found = instantsOf(localMs, zone);
  if (found.length > 0) return found[0] as number;
  const gap = offsetAt(zone, localMs + DAY_MS) - offsetAt(zone, localMs - DAY_MS);
  const later = instantsOf(localMs + gap, zone);
  return later[later.length - 1] ?? localMs - offsetAt(zone, localMs + DAY_MS);
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/**
 * An instant in ISO 8601 with milliseconds and the offset `zone` has at that instant (`Z` when the offset
 * is zero). Without a zone, or when the zone's offset there has seconds (local mean time before ~1900, which
 * an ISO offset cannot write), the instant is written in UTC.
 */
export function formatInstant(epochMs: number, zone?: string): string {
  if (zone !== undefined) {
    const offsetMs = offsetAt(zone, epochMs);
    if (offsetMs !== 0 && offsetMs % 60_000 === 0) {
      const local = new Date(epochMs + offsetMs).toISOString().slice(0, -1);
      const abs = Math.abs(offsetMs) / 60_000;
      return `${local}${offsetMs < 0 ? '-' : '+'}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
    }
  }
  return new Date(epochMs).toISOString();
}

/**
 * A timestamp → ISO 8601 (see the module comment). `zone` is an IANA name (canonicalised here); it places a
 * time without an offset and chooses the offset written. Default `UTC`.
 */
export function toIso8601(
  input: Scalar,
  zone = 'UTC',
): { ok: true; value: string } | { ok: false; reason: string; cause: TimeFailure['cause'] } {
  const tz = canonicalTimeZone(zone);
  if (tz === undefined)
    return { ok: false, reason: timeZoneProblem(zone) ?? zone, cause: 'invalid-time-zone' };
  const parsed = parseTimestamp(input);
  if (!parsed.ok) return parsed;
  const epochMs = parsed.kind === 'instant' ? parsed.epochMs : wallClockToEpochMs(parsed, tz);
  return { ok: true, value: formatInstant(epochMs, tz) };
}
