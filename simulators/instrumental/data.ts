/** The `data` JSON part of ingestImage (vendor doc "Parameters"), checked the way the vendor reports it. */

export interface AssemblyRelationship {
  unitSerial: string;
  relationshipName: string;
}

export interface IngestData {
  serialNumber: string;
  stationName: string;
  imageType: string;
  imageTimestamp: { ianaTimeZone: string; iso8601Time: string };
  tags?: string[];
  configName?: string;
  imageConfigs?: { configs?: Record<string, string> };
  fixtureName?: string;
  fileName?: string;
  lineName?: string;
  buildName?: string;
  parentAssembly?: AssemblyRelationship;
  subassemblies?: AssemblyRelationship[];
}

export type DataParse = { ok: true; data: IngestData } | { ok: false; reason: string };

class ShapeError extends Error {
  constructor(
    readonly path: string,
    readonly explanation: string,
  ) {
    super(`${path}: ${explanation}`);
  }
}

type Json = unknown;

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}

function requiredString(obj: Record<string, Json>, key: string, path: string): string {
  const v = obj[key];
  if (v === undefined || v === null)
    throw new ShapeError(`${path}/${key}`, 'missing required field, expected a string');
  if (typeof v !== 'string')
    throw new ShapeError(`${path}/${key}`, `expected a string but got ${describe(v)}`);
  return v;
}

function optionalString(obj: Record<string, Json>, key: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new ShapeError(`/${key}`, `expected a string but got ${describe(v)}`);
  return v;
}

function relationship(v: Json, path: string): AssemblyRelationship {
  if (!isObject(v)) {
    throw new ShapeError(path, `expected an object {unitSerial, relationshipName} but got ${describe(v)}`);
  }
  return {
    unitSerial: requiredString(v, 'unitSerial', path),
    relationshipName: requiredString(v, 'relationshipName', path),
  };
}

const ISO_8601 =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d{1,9})?)?(Z|[+-](\d{2})(?::?(\d{2}))?)$/;

/** An ISO 8601 date-time with a zone (`Z` or an offset) and real calendar values. */
export function isIso8601WithZone(s: string): boolean {
  const m = ISO_8601.exec(s);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(
    Number,
  ) as number[];
  if ((month as number) < 1 || (month as number) > 12 || (day as number) < 1) return false;
  const daysInMonth = new Date(Date.UTC(year as number, month as number, 0)).getUTCDate();
  if ((day as number) > daysInMonth) return false;
  if ((hour as number) > 23 || (minute as number) > 59 || (second as number) > 60) return false;
  if (m[8] !== undefined && (Number(m[8]) > 23 || Number(m[9] ?? 0) > 59)) return false;
  return true;
}

/** A zone name of the IANA database as known to Node's ICU ("Asia/Shanghai", "UTC"); offsets are refused. */
export function isIanaTimeZone(s: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(s)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: s });
    return true;
  } catch {
    return false;
  }
}

/**
 * Parses and shape-checks the `data` part. Emptiness of serialNumber/stationName/imageType is not a shape error
 * (that is INVALID_DATA, checked by the caller).
 */
export function parseIngestData(text: string, maxTags: number): DataParse {
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `ERROR :: / :: request data is not valid JSON (${(err as Error).message})` };
  }
  try {
    return { ok: true, data: shape(json, maxTags) };
  } catch (err) {
    if (err instanceof ShapeError) return { ok: false, reason: `ERROR :: ${err.path} :: ${err.explanation}` };
    throw err;
  }
}

function shape(json: Json, maxTags: number): IngestData {
  if (!isObject(json)) throw new ShapeError('/', `expected a JSON object but got ${describe(json)}`);
  const serialNumber = requiredString(json, 'serialNumber', '');
  const stationName = requiredString(json, 'stationName', '');
  const imageType = requiredString(json, 'imageType', '');
  const ts = json.imageTimestamp;
  if (ts === undefined || ts === null) {
    throw new ShapeError('/imageTimestamp', 'missing required field, expected {ianaTimeZone, iso8601Time}');
  }
  if (!isObject(ts)) throw new ShapeError('/imageTimestamp', `expected an object but got ${describe(ts)}`);
  const iso8601Time = requiredString(ts, 'iso8601Time', '/imageTimestamp');
  if (!isIso8601WithZone(iso8601Time)) {
    throw new ShapeError(
      '/imageTimestamp/iso8601Time',
      'expected an ISO 8601 date-time such as 2020-02-14T00:52:10.499Z',
    );
  }
  const ianaTimeZone = requiredString(ts, 'ianaTimeZone', '/imageTimestamp');
  if (!isIanaTimeZone(ianaTimeZone)) {
    throw new ShapeError('/imageTimestamp/ianaTimeZone', `unknown IANA time zone "${ianaTimeZone}"`);
  }
  const data: IngestData = {
    serialNumber,
    stationName,
    imageType,
    imageTimestamp: { ianaTimeZone, iso8601Time },
  };

  const tags = json.tags;
  if (tags !== undefined && tags !== null) {
    if (!Array.isArray(tags))
      throw new ShapeError('/tags', `expected an array of strings but got ${describe(tags)}`);
    tags.forEach((t, i) => {
      if (typeof t !== 'string')
        throw new ShapeError(`/tags/${i}`, `expected a string but got ${describe(t)}`);
    });
    if (tags.length > maxTags)
      throw new ShapeError('/tags', `at most ${maxTags} tags are allowed, got ${tags.length}`);
    data.tags = tags as string[];
  }
  for (const key of ['configName', 'fixtureName', 'fileName', 'lineName', 'buildName'] as const) {
    const v = optionalString(json, key);
    if (v !== undefined) data[key] = v;
  }
  const ic = json.imageConfigs;
  if (ic !== undefined && ic !== null) {
    if (!isObject(ic))
      throw new ShapeError('/imageConfigs', `expected an object {configs} but got ${describe(ic)}`);
    const configs = ic.configs;
    if (configs !== undefined && configs !== null) {
      if (!isObject(configs)) {
        throw new ShapeError(
          '/imageConfigs/configs',
          `expected a map of strings but got ${describe(configs)}`,
        );
      }
      for (const [k, v] of Object.entries(configs)) {
        if (typeof v !== 'string') {
          throw new ShapeError(`/imageConfigs/configs/${k}`, `expected a string but got ${describe(v)}`);
        }
      }
      data.imageConfigs = { configs: configs as Record<string, string> };
    } else {
      data.imageConfigs = {};
    }
  }
  const parent = json.parentAssembly;
  if (parent !== undefined && parent !== null) data.parentAssembly = relationship(parent, '/parentAssembly');
  const subs = json.subassemblies;
  if (subs !== undefined && subs !== null) {
    if (!Array.isArray(subs)) {
      throw new ShapeError(
        '/subassemblies',
        `expected an array of {unitSerial, relationshipName} but got ${describe(subs)}`,
      );
    }
    data.subassemblies = subs.map((s, i) => relationship(s, `/subassemblies/${i}`));
  }
  return data;
}
