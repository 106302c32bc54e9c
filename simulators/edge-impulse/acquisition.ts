import { createHmac, timingSafeEqual } from 'node:crypto';
import { ACQ_ALLOW_BARE_NUMBER_ROWS_FOR_ONE_SENSOR, ACQ_NULL_IS_ABSENT } from './assumptions.ts';
import { type CborSpan, decodeCborWithSpans, encodeCbor } from './cbor.ts';

/**
 * Edge Impulse data-acquisition documents (contract §1.3): parsing from JSON or CBOR, validation, and the HMAC
 * signature (HMAC-SHA256 over the serialised document with 64 ASCII '0' in place of the signature).
 */

export class AcquisitionError extends Error {}

export type DocumentFormat = 'json' | 'cbor';

export interface AcquisitionSensor {
  name: string;
  units: string;
}

/** A validated document. Optional fields may be `null` (ACQ_NULL_IS_ABSENT): the Python SDK sends them so. */
export interface AcquisitionDocument {
  protected: { ver: 'v1'; alg: 'HS256' | 'none'; iat?: number | null };
  signature?: string | null;
  payload: {
    device_name?: string | null;
    device_type: string;
    interval_ms: number;
    sensors: AcquisitionSensor[];
    values: Array<number[] | number>;
  };
}

export interface ParsedDocument {
  format: DocumentFormat;
  doc: AcquisitionDocument;
  /** Number of rows in `values` (the sample count, for structured-label coverage). */
  valueCount: number;
  /** Where the signature value (JSON string with its quotes, or CBOR text item) sits in the bytes. */
  signatureSpan?: CborSpan;
}

export const SIGNATURE_PLACEHOLDER = '0'.repeat(64);

/** Which format the bytes are, whatever the Content-Type said (§1.4): JSON when the first non-space is `{`. */
export function sniffDocumentFormat(bytes: Uint8Array): DocumentFormat | undefined {
  let i = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) i = 3;
  while (i < bytes.length && isJsonSpace(bytes[i] as number)) i++;
  if (bytes[i] === 0x7b) return 'json';
  const first = bytes[0];
  if (first === undefined) return undefined;
  // A CBOR map (major type 5), possibly behind the self-describe tag 55799 (d9 d9 f7).
  if (first >> 5 === 5) return 'cbor';
  if (first === 0xd9 && bytes[1] === 0xd9 && bytes[2] === 0xf7) return 'cbor';
  return undefined;
}

function isJsonSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** Parses and validates a data-acquisition document; throws `AcquisitionError` with a readable reason. */
export function parseAcquisition(bytes: Buffer, format = sniffDocumentFormat(bytes)): ParsedDocument {
  if (format === undefined) throw new AcquisitionError('Body is neither a JSON nor a CBOR document');
  let value: unknown;
  let signatureSpan: CborSpan | undefined;
  if (format === 'json') {
    const hasBom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
    try {
      value = JSON.parse(bytes.toString('utf8', hasBom ? 3 : 0));
    } catch (err) {
      throw new AcquisitionError(`Invalid JSON: ${(err as Error).message}`);
    }
    signatureSpan = jsonTopLevelStringSpan(bytes, 'signature');
  } else {
    try {
      const decoded = decodeCborWithSpans(bytes);
      value = decoded.value;
      signatureSpan = decoded.topLevelValueSpans.get('signature');
    } catch (err) {
      throw new AcquisitionError(`Invalid CBOR: ${(err as Error).message}`);
    }
  }
  const { doc, valueCount } = validateDocument(value);
  return { format, doc, valueCount, signatureSpan };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** An optional field left out, or (ACQ_NULL_IS_ABSENT) sent as null. */
function absent(value: unknown): boolean {
  return value === undefined || (ACQ_NULL_IS_ABSENT && value === null);
}

/** Checks the §1.3 shape; see `assumptions.ts` for the details the docs leave open. */
export function validateDocument(value: unknown): { doc: AcquisitionDocument; valueCount: number } {
  const fail = (msg: string): never => {
    throw new AcquisitionError(msg);
  };
  if (!isObject(value)) fail('Document must be an object');
  const v = value as Record<string, unknown>;
  const prot = v.protected;
  if (!isObject(prot)) fail('Missing "protected" object');
  const p = prot as Record<string, unknown>;
  if (p.ver !== 'v1') fail('protected.ver must be "v1"');
  if (p.alg !== 'HS256' && p.alg !== 'none') fail('protected.alg must be "HS256" or "none"');
  if (!absent(p.iat) && typeof p.iat !== 'number') fail('protected.iat must be a number');
  if (!absent(v.signature) && typeof v.signature !== 'string') fail('signature must be a string');
  if (p.alg === 'HS256' && typeof v.signature !== 'string') fail('Missing "signature"');
  const payload = v.payload;
  if (!isObject(payload)) fail('Missing "payload" object');
  const pl = payload as Record<string, unknown>;
  if (typeof pl.device_type !== 'string' || pl.device_type === '') fail('payload.device_type is required');
  if (!absent(pl.device_name) && typeof pl.device_name !== 'string') {
    fail('payload.device_name must be a string');
  }
  if (typeof pl.interval_ms !== 'number' || !Number.isFinite(pl.interval_ms) || pl.interval_ms < 0) {
    fail('payload.interval_ms must be a number >= 0');
  }
  const sensors = pl.sensors;
  if (!Array.isArray(sensors) || sensors.length === 0) fail('payload.sensors must be a non-empty array');
  (sensors as unknown[]).forEach((s, i) => {
    if (!isObject(s) || typeof s.name !== 'string' || s.name === '')
      fail(`payload.sensors[${i}].name is required`);
    if (typeof (s as Record<string, unknown>).units !== 'string')
      fail(`payload.sensors[${i}].units is required`);
  });
  const width = (sensors as unknown[]).length;
  const values = pl.values;
  if (!Array.isArray(values) || values.length === 0) fail('payload.values must be a non-empty array');
  (values as unknown[]).forEach((row, i) => {
    if (typeof row === 'number' && width === 1 && ACQ_ALLOW_BARE_NUMBER_ROWS_FOR_ONE_SENSOR) return;
    if (!Array.isArray(row)) fail(`payload.values[${i}] must be an array`);
    const r = row as unknown[];
    if (r.length !== width) {
      fail(`payload.values[${i}] has ${r.length} values but there are ${width} sensors`);
    }
    if (r.some((x) => typeof x !== 'number')) fail(`payload.values[${i}] must contain only numbers`);
  });
  return { doc: value as unknown as AcquisitionDocument, valueCount: (values as unknown[]).length };
}

/**
 * Verifies the HMAC (§1.3). Answers `undefined` when there is nothing to verify against (`alg: "none"`, no key,
 * or no signature string found in the bytes).
 */
export function verifySignature(
  parsed: ParsedDocument,
  bytes: Buffer,
  hmacKey: string | undefined,
): boolean | undefined {
  if (parsed.doc.protected.alg !== 'HS256' || hmacKey === undefined) return undefined;
  const span = parsed.signatureSpan;
  const signature = parsed.doc.signature;
  if (!span || typeof signature !== 'string') return undefined;
  const zeroed = Buffer.concat([
    bytes.subarray(0, span.start),
    placeholderItem(parsed.format),
    bytes.subarray(span.end),
  ]);
  const expected = Buffer.from(hmacHex(hmacKey, zeroed), 'utf8');
  const got = Buffer.from(signature.toLowerCase(), 'utf8');
  return expected.length === got.length && timingSafeEqual(expected, got);
}

function placeholderItem(format: DocumentFormat): Buffer {
  return format === 'json'
    ? Buffer.from(`"${SIGNATURE_PLACEHOLDER}"`, 'utf8')
    : encodeCbor(SIGNATURE_PLACEHOLDER);
}

export function hmacHex(key: string, data: Uint8Array): string {
  return createHmac('sha256', key).update(data).digest('hex');
}

/**
 * Serialises a document as JSON and signs it the way the CLI does: `signature` set to 64 zeros, HMAC over those
 * bytes, digest spliced in place. With `alg: "none"` the zeros stay.
 */
export function signAcquisitionJson(doc: unknown, hmacKey: string, space?: number): Buffer {
  const bytes = Buffer.from(JSON.stringify(withPlaceholder(doc), null, space), 'utf8');
  return splice(bytes, jsonTopLevelStringSpan(bytes, 'signature'), hmacKey, (hex) => `"${hex}"`);
}

/** Same for CBOR (the C SDK's way): the 64-zero text string is replaced by the digest, same length. */
export function signAcquisitionCbor(doc: unknown, hmacKey: string): Buffer {
  const bytes = encodeCbor(withPlaceholder(doc));
  const span = decodeCborWithSpans(bytes).topLevelValueSpans.get('signature');
  return splice(bytes, span, hmacKey, (hex) => encodeCbor(hex));
}

function withPlaceholder(doc: unknown): unknown {
  if (!isObject(doc)) throw new AcquisitionError('Document must be an object');
  return { ...doc, signature: SIGNATURE_PLACEHOLDER };
}

function splice(
  bytes: Buffer,
  span: CborSpan | undefined,
  hmacKey: string,
  item: (hex: string) => string | Buffer,
): Buffer {
  if (!span) throw new AcquisitionError('signature not found');
  const hex = hmacHex(hmacKey, bytes);
  const replacement = item(hex);
  return Buffer.concat([
    bytes.subarray(0, span.start),
    typeof replacement === 'string' ? Buffer.from(replacement, 'utf8') : replacement,
    bytes.subarray(span.end),
  ]);
}

/**
 * Finds the string value of a key of the top-level JSON object, as a byte span including its quotes, without
 * re-serialising (so the check runs over the document's exact bytes). UTF-8 multi-byte sequences never contain
 * ASCII quote, backslash or bracket bytes, so scanning bytes is safe.
 */
export function jsonTopLevelStringSpan(bytes: Uint8Array, key: string): CborSpan | undefined {
  let depth = 0;
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    const c = bytes[i] as number;
    if (c === 0x22) {
      const start = i;
      i = skipJsonString(bytes, i);
      if (depth !== 1) continue;
      let j = i;
      while (j < n && isJsonSpace(bytes[j] as number)) j++;
      if (bytes[j] !== 0x3a) continue;
      let name: unknown;
      try {
        name = JSON.parse(Buffer.from(bytes.subarray(start, i)).toString('utf8'));
      } catch {
        return undefined;
      }
      if (name !== key) continue;
      j++;
      while (j < n && isJsonSpace(bytes[j] as number)) j++;
      if (bytes[j] !== 0x22) return undefined;
      return { start: j, end: skipJsonString(bytes, j) };
    }
    if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) depth--;
    i++;
  }
  return undefined;
}

/** From the opening quote at `i`, the index just after the closing quote. */
function skipJsonString(bytes: Uint8Array, i: number): number {
  let j = i + 1;
  while (j < bytes.length) {
    const c = bytes[j] as number;
    if (c === 0x5c) j += 2;
    else if (c === 0x22) return j + 1;
    else j++;
  }
  return j;
}
