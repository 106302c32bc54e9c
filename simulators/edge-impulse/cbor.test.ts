import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CborError,
  CborFloat,
  CborIndefiniteArray,
  decodeCbor,
  decodeCborWithSpans,
  encodeCbor,
} from './cbor.ts';

const hex = (s: string): Buffer => Buffer.from(s, 'hex');

describe('CBOR decoder (RFC 8949 Appendix A vectors)', () => {
  const vectors: Array<[string, unknown]> = [
    ['00', 0],
    ['01', 1],
    ['17', 23],
    ['1818', 24],
    ['1864', 100],
    ['1903e8', 1000],
    ['1a000f4240', 1000000],
    ['1b000000e8d4a51000', 1000000000000],
    ['20', -1],
    ['3863', -100],
    ['3903e7', -1000],
    ['f90000', 0],
    ['f98000', -0],
    ['f93c00', 1],
    ['fb3ff199999999999a', 1.1],
    ['f93e00', 1.5],
    ['f97bff', 65504],
    ['fa47c35000', 100000],
    ['fa7f7fffff', 2 ** 128 - 2 ** 104], // the largest float32
    ['fb7e37e43c8800759c', 1.0e300],
    ['f90001', 2 ** -24], // the smallest half-float subnormal
    ['f90400', 2 ** -14],
    ['f9c400', -4],
    ['fbc010666666666666', -4.1],
    ['f97c00', Number.POSITIVE_INFINITY],
    ['f9fc00', Number.NEGATIVE_INFINITY],
    ['f4', false],
    ['f5', true],
    ['f6', null],
    ['f7', undefined],
    ['40', new Uint8Array(0)],
    ['4401020304', Uint8Array.from([1, 2, 3, 4])],
    ['60', ''],
    ['6161', 'a'],
    ['6449455446', 'IETF'],
    ['62c3bc', 'ü'],
    ['63e6b0b4', '水'],
    ['80', []],
    ['83010203', [1, 2, 3]],
    ['8301820203820405', [1, [2, 3], [4, 5]]],
    ['a0', {}],
    ['a201020304', { '1': 2, '3': 4 }],
    ['a26161016162820203', { a: 1, b: [2, 3] }],
    ['826161a161626163', ['a', { b: 'c' }]],
    ['c074323031332d30332d32315432303a30343a30305a', '2013-03-21T20:04:00Z'],
    ['5f42010243030405ff', Uint8Array.from([1, 2, 3, 4, 5])],
    ['7f657374726561646d696e67ff', 'streaming'],
    ['9fff', []],
    ['9f018202039f0405ffff', [1, [2, 3], [4, 5]]],
    ['83018202039f0405ff', [1, [2, 3], [4, 5]]],
    ['83019f0203ff820405', [1, [2, 3], [4, 5]]],
    ['bf61610161629f0203ffff', { a: 1, b: [2, 3] }],
    ['826161bf61626163ff', ['a', { b: 'c' }]],
    ['bf6346756ef563416d7421ff', { Fun: true, Amt: -2 }],
  ];
  for (const [input, expected] of vectors) {
    it(`decodes ${input}`, () => {
      assert.deepStrictEqual(decodeCbor(hex(input)), expected);
    });
  }

  it('decodes NaN and a 25-element array (one-byte length)', () => {
    assert.ok(Number.isNaN(decodeCbor(hex('f97e00'))));
    const items = Array.from({ length: 25 }, (_, i) => i + 1);
    const encoded = `9819${items.map((n) => (n < 24 ? n.toString(16).padStart(2, '0') : `18${n.toString(16)}`)).join('')}`;
    assert.deepStrictEqual(decodeCbor(hex(encoded)), items);
  });

  it('stores a "__proto__" key as an own property', () => {
    const value = decodeCbor(encodeCbor({ ['__proto__']: 1 })) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
    assert.deepEqual(Object.keys(value), ['__proto__']);
  });

  const errors: Array<[string, string, RegExp]> = [
    ['empty input', '', /empty/],
    ['truncated integer', '19ff', /unexpected end/],
    ['truncated string', '6449', /unexpected end/],
    ['trailing bytes', '0000', /trailing bytes/],
    ['reserved additional info', '1c', /reserved additional info/],
    ['break outside an indefinite item', 'ff', /unexpected break/],
    ['break inside a definite array', '82 01 ff'.replace(/ /g, ''), /unexpected break/],
    ['indefinite integer', '1f', /indefinite length not allowed/],
    ['unterminated indefinite array', '9f01', /unexpected end/],
    ['invalid UTF-8 text', '62c328', /./],
    ['chunk of another type in an indefinite string', '7f4101ff', /another type/],
  ];
  for (const [what, input, message] of errors) {
    it(`rejects ${what}`, () => {
      assert.throws(
        () => decodeCbor(hex(input)),
        (err: Error) => {
          assert.match(err.message, message);
          return err instanceof CborError || err instanceof TypeError;
        },
      );
    });
  }
});

describe('CBOR encoder', () => {
  const vectors: Array<[unknown, string]> = [
    [0, '00'],
    [23, '17'],
    [24, '1818'],
    [1000, '1903e8'],
    [1000000, '1a000f4240'],
    [1000000000000, '1b000000e8d4a51000'],
    [-1, '20'],
    [-1000, '3903e7'],
    [1.5, 'fa3fc00000'],
    [1.1, 'fb3ff199999999999a'],
    [false, 'f4'],
    [true, 'f5'],
    [null, 'f6'],
    [undefined, 'f7'],
    ['IETF', '6449455446'],
    ['水', '63e6b0b4'],
    [Uint8Array.from([1, 2]), '420102'],
    [[1, [2, 3]], '8201820203'],
    [{ a: 1, b: [2, 3] }, 'a26161016162820203'],
    [new CborIndefiniteArray([1, 2]), '9f0102ff'],
    [new CborFloat(1, 32), 'fa3f800000'],
    [new CborFloat(1), 'fb3ff0000000000000'],
  ];
  for (const [input, expected] of vectors) {
    it(`encodes ${JSON.stringify(input) ?? String(input)} as ${expected}`, () => {
      assert.equal(encodeCbor(input).toString('hex'), expected);
    });
  }

  it('refuses values it cannot encode', () => {
    assert.throws(() => encodeCbor(() => 1), CborError);
    assert.throws(() => encodeCbor(10n), CborError);
  });

  it('round-trips a data-acquisition document with an indefinite values array', () => {
    const doc = {
      protected: { ver: 'v1', alg: 'HS256' },
      signature: '0'.repeat(64),
      payload: {
        device_type: 'SIM_DEVICE',
        interval_ms: 16,
        sensors: [{ name: 'accX', units: 'm/s2' }],
        values: new CborIndefiniteArray([[0.5], [-1.25], [3]]),
      },
    };
    assert.deepStrictEqual(decodeCbor(encodeCbor(doc)), {
      ...doc,
      payload: { ...doc.payload, values: [[0.5], [-1.25], [3]] },
    });
  });

  it('reports where each top-level value sits', () => {
    const bytes = encodeCbor({ a: 1, signature: 'abc', z: [1] });
    const { topLevelValueSpans } = decodeCborWithSpans(bytes);
    const span = topLevelValueSpans.get('signature');
    assert.ok(span);
    assert.equal(bytes.subarray(span.start, span.end).toString('hex'), '63616263');
    assert.deepEqual([...topLevelValueSpans.keys()], ['a', 'signature', 'z']);
    const indefinite = hex('bf6373696763616263ff');
    assert.deepEqual(decodeCborWithSpans(indefinite).topLevelValueSpans.get('sig'), { start: 5, end: 9 });
  });
});
