/**
 * A compact CBOR (RFC 8949) decoder and encoder, enough for Edge Impulse data-acquisition documents: maps, arrays
 * (definite and indefinite), text and byte strings, integers, half/single/double floats, booleans, null,
 * undefined and tags (the tag number is dropped). No dependency is installed for CBOR, hence this file.
 *
 * Maps decode to plain objects (keys converted with `String()`, `__proto__` stored as an own property).
 * Integers beyond 2^53 decode to the nearest Number.
 */

export class CborError extends Error {}

export type CborValue =
  | number
  | string
  | boolean
  | null
  | undefined
  | Uint8Array
  | CborValue[]
  | { [key: string]: CborValue };

/** Where an item sits in the encoded bytes: `[start, end)` including its header. */
export interface CborSpan {
  start: number;
  end: number;
}

export interface CborDecoded {
  value: CborValue;
  /** For a top-level map: the span of each value, by key. Empty otherwise. */
  topLevelValueSpans: Map<string, CborSpan>;
}

const BREAK = Symbol('break');
const MAX_DEPTH = 256;

class Decoder {
  pos = 0;
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private need(n: number): void {
    if (this.pos + n > this.bytes.length)
      throw new CborError(`unexpected end of CBOR data at byte ${this.pos}`);
  }

  private u8(): number {
    this.need(1);
    return this.bytes[this.pos++] as number;
  }

  /** Reads the argument of a header; `undefined` means indefinite length (additional info 31). */
  private argument(info: number): number | undefined {
    if (info < 24) return info;
    switch (info) {
      case 24:
        return this.u8();
      case 25: {
        this.need(2);
        const v = this.view.getUint16(this.pos);
        this.pos += 2;
        return v;
      }
      case 26: {
        this.need(4);
        const v = this.view.getUint32(this.pos);
        this.pos += 4;
        return v;
      }
      case 27: {
        this.need(8);
        const v = this.view.getBigUint64(this.pos);
        this.pos += 8;
        return Number(v);
      }
      case 31:
        return undefined;
      default:
        throw new CborError(`reserved additional info ${info} at byte ${this.pos - 1}`);
    }
  }

  private definite(info: number, what: string): number {
    const n = this.argument(info);
    if (n === undefined) throw new CborError(`indefinite length not allowed for ${what}`);
    return n;
  }

  private chunk(n: number): Uint8Array {
    this.need(n);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** Reads an indefinite string: definite chunks of the same major type until a break. */
  private chunks(major: number): Uint8Array {
    const parts: Uint8Array[] = [];
    for (;;) {
      const b = this.u8();
      if (b === 0xff) break;
      if (b >> 5 !== major) throw new CborError('indefinite string chunk of another type');
      parts.push(this.chunk(this.definite(b & 0x1f, 'a string chunk')));
    }
    return Buffer.concat(parts);
  }

  item(depth = 0): CborValue | typeof BREAK {
    if (depth > MAX_DEPTH) throw new CborError('CBOR nesting too deep');
    const initial = this.u8();
    const major = initial >> 5;
    const info = initial & 0x1f;
    switch (major) {
      case 0:
        return this.definite(info, 'an integer');
      case 1:
        return -1 - this.definite(info, 'an integer');
      case 2: {
        const n = this.argument(info);
        return Uint8Array.from(n === undefined ? this.chunks(2) : this.chunk(n));
      }
      case 3: {
        const n = this.argument(info);
        const raw = n === undefined ? this.chunks(3) : this.chunk(n);
        return new TextDecoder('utf-8', { fatal: true }).decode(raw);
      }
      case 4: {
        const n = this.argument(info);
        const out: CborValue[] = [];
        if (n === undefined) {
          for (;;) {
            const v = this.item(depth + 1);
            if (v === BREAK) break;
            out.push(v);
          }
        } else {
          for (let i = 0; i < n; i++) out.push(this.value(depth + 1));
        }
        return out;
      }
      case 5: {
        const n = this.argument(info);
        const out: { [key: string]: CborValue } = {};
        for (let i = 0; n === undefined || i < n; i++) {
          const k = this.item(depth + 1);
          if (k === BREAK) {
            if (n === undefined) break;
            throw new CborError('unexpected break in a definite map');
          }
          setKey(out, k, this.value(depth + 1));
        }
        return out;
      }
      case 6:
        this.definite(info, 'a tag');
        return this.value(depth + 1);
      default:
        return this.simple(info);
    }
  }

  value(depth = 0): CborValue {
    const v = this.item(depth);
    if (v === BREAK) throw new CborError(`unexpected break at byte ${this.pos - 1}`);
    return v;
  }

  private simple(info: number): CborValue | typeof BREAK {
    switch (info) {
      case 20:
        return false;
      case 21:
        return true;
      case 22:
        return null;
      case 23:
        return undefined;
      case 24:
        this.u8();
        return undefined;
      case 25: {
        this.need(2);
        const v = halfToNumber(this.view.getUint16(this.pos));
        this.pos += 2;
        return v;
      }
      case 26: {
        this.need(4);
        const v = this.view.getFloat32(this.pos);
        this.pos += 4;
        return v;
      }
      case 27: {
        this.need(8);
        const v = this.view.getFloat64(this.pos);
        this.pos += 8;
        return v;
      }
      case 31:
        return BREAK;
      default:
        if (info < 20) return undefined;
        throw new CborError(`reserved simple value ${info}`);
    }
  }

  /** Decodes a top-level map pair by pair, recording where each value sits. */
  topLevelMap(spans: Map<string, CborSpan>): CborValue {
    const initial = this.bytes[this.pos] as number;
    if (initial >> 5 !== 5) return this.value();
    this.pos++;
    const n = this.argument(initial & 0x1f);
    const out: { [key: string]: CborValue } = {};
    for (let i = 0; n === undefined || i < n; i++) {
      const k = this.item(1);
      if (k === BREAK) {
        if (n === undefined) break;
        throw new CborError('unexpected break in a definite map');
      }
      const start = this.pos;
      const v = this.value(1);
      spans.set(String(k), { start, end: this.pos });
      setKey(out, k, v);
    }
    return out;
  }
}

function setKey(target: { [key: string]: CborValue }, key: CborValue, value: CborValue): void {
  Object.defineProperty(target, String(key), { value, enumerable: true, writable: true, configurable: true });
}

function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** Decodes exactly one CBOR item; trailing bytes are an error. */
export function decodeCbor(bytes: Uint8Array): CborValue {
  return decodeCborWithSpans(bytes).value;
}

/** Decodes one CBOR item and, when it is a map, where each top-level value sits (for the signature splice). */
export function decodeCborWithSpans(bytes: Uint8Array): CborDecoded {
  if (bytes.length === 0) throw new CborError('empty CBOR data');
  const d = new Decoder(bytes);
  const topLevelValueSpans = new Map<string, CborSpan>();
  const value = d.topLevelMap(topLevelValueSpans);
  if (d.pos !== bytes.length) throw new CborError(`trailing bytes after CBOR item at byte ${d.pos}`);
  return { value, topLevelValueSpans };
}

/** Marks an array to be encoded with indefinite length (as the C ingestion SDK encodes `values`). */
export class CborIndefiniteArray {
  constructor(readonly items: readonly unknown[]) {}
}

/** Marks a number to be encoded as a float of the given width even when it is an integer. */
export class CborFloat {
  constructor(
    readonly value: number,
    readonly width: 32 | 64 = 64,
  ) {}
}

function header(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
  if (n < 0x10000) {
    const b = Buffer.alloc(3);
    b[0] = (major << 5) | 25;
    b.writeUInt16BE(n, 1);
    return b;
  }
  if (n < 0x100000000) {
    const b = Buffer.alloc(5);
    b[0] = (major << 5) | 26;
    b.writeUInt32BE(n, 1);
    return b;
  }
  const b = Buffer.alloc(9);
  b[0] = (major << 5) | 27;
  b.writeBigUInt64BE(BigInt(n), 1);
  return b;
}

function encodeFloat(v: number, width: 32 | 64): Buffer {
  if (width === 32) {
    const b = Buffer.alloc(5);
    b[0] = 0xfa;
    b.writeFloatBE(v, 1);
    return b;
  }
  const b = Buffer.alloc(9);
  b[0] = 0xfb;
  b.writeDoubleBE(v, 1);
  return b;
}

/**
 * Encodes a value: safe integers as integers, other numbers as float32 when exact, else float64; strings as text,
 * Uint8Array as bytes, arrays, plain objects as text-keyed maps, booleans, null, undefined.
 */
export function encodeCbor(value: unknown): Buffer {
  const out: Buffer[] = [];
  encodeInto(value, out, 0);
  return Buffer.concat(out);
}

function encodeInto(value: unknown, out: Buffer[], depth: number): void {
  if (depth > MAX_DEPTH) throw new CborError('value nested too deep');
  if (value === null) out.push(Buffer.from([0xf6]));
  else if (value === undefined) out.push(Buffer.from([0xf7]));
  else if (value === false) out.push(Buffer.from([0xf4]));
  else if (value === true) out.push(Buffer.from([0xf5]));
  else if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && !Object.is(value, -0)) {
      out.push(value >= 0 ? header(0, value) : header(1, -1 - value));
    } else {
      out.push(encodeFloat(value, Math.fround(value) === value || Number.isNaN(value) ? 32 : 64));
    }
  } else if (value instanceof CborFloat) out.push(encodeFloat(value.value, value.width));
  else if (typeof value === 'string') {
    const b = Buffer.from(value, 'utf8');
    out.push(header(3, b.length), b);
  } else if (value instanceof Uint8Array) out.push(header(2, value.length), Buffer.from(value));
  else if (value instanceof CborIndefiniteArray) {
    out.push(Buffer.from([0x9f]));
    for (const v of value.items) encodeInto(v, out, depth + 1);
    out.push(Buffer.from([0xff]));
  } else if (Array.isArray(value)) {
    out.push(header(4, value.length));
    for (const v of value) encodeInto(v, out, depth + 1);
  } else if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    out.push(header(5, entries.length));
    for (const [k, v] of entries) {
      encodeInto(k, out, depth + 1);
      encodeInto(v, out, depth + 1);
    }
  } else {
    throw new CborError(`cannot encode a ${typeof value}`);
  }
}
