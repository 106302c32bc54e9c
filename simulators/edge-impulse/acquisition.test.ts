import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AcquisitionError,
  hmacHex,
  jsonTopLevelStringSpan,
  parseAcquisition,
  SIGNATURE_PLACEHOLDER,
  signAcquisitionCbor,
  signAcquisitionJson,
  sniffDocumentFormat,
  verifySignature,
} from './acquisition.ts';
import { CborFloat, CborIndefiniteArray, encodeCbor } from './cbor.ts';
import { checkSampleCsv } from './csv.ts';
import { decodeHeaderValue, inferLabel, parseMetadata, repairUtf8, withDateId } from './headers.ts';
import { LabelEntryError, validateBoundingBoxes, validateStructuredLabels } from './labels.ts';
import { sniffSample } from './sniff.ts';

const KEY = 'sim-hmac-key-1';

function doc(
  overrides: Record<string, unknown> = {},
  payload: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    protected: { ver: 'v1', alg: 'HS256', iat: 1_700_000_000 },
    signature: SIGNATURE_PLACEHOLDER,
    payload: {
      device_name: 'ac:87:a3:0a:2d:1b',
      device_type: 'SIM_BOARD',
      interval_ms: 10,
      sensors: [
        { name: 'accX', units: 'm/s2' },
        { name: 'accY', units: 'm/s2' },
      ],
      values: [
        [1, 2],
        [3.5, -4],
      ],
      ...payload,
    },
    ...overrides,
  };
}

describe('data-acquisition documents', () => {
  it('signs and verifies compact JSON (CLI style)', () => {
    const bytes = signAcquisitionJson(doc(), KEY);
    const parsed = parseAcquisition(bytes);
    assert.equal(parsed.format, 'json');
    assert.equal(parsed.valueCount, 2);
    assert.equal(verifySignature(parsed, bytes, KEY), true);
    assert.equal(verifySignature(parsed, bytes, 'another-key'), false);
    // The signature is exactly the HMAC over the bytes with 64 zeros in its place.
    const zeroed = Buffer.from(JSON.stringify(doc()), 'utf8');
    assert.equal(parsed.doc.signature, hmacHex(KEY, zeroed));
  });

  it('verifies JSON with Python-style separators and a signature placed after the payload', () => {
    const d = doc();
    const reordered = { payload: d.payload, protected: d.protected, signature: SIGNATURE_PLACEHOLDER };
    const zeroed = JSON.stringify(reordered, null, 1).replace(/\n\s*/g, ' ');
    const signed = Buffer.from(
      zeroed.replace(SIGNATURE_PLACEHOLDER, hmacHex(KEY, Buffer.from(zeroed))),
      'utf8',
    );
    const parsed = parseAcquisition(signed);
    assert.equal(verifySignature(parsed, signed, KEY), true);
  });

  it('detects a tampered JSON value', () => {
    const bytes = signAcquisitionJson(doc(), KEY);
    const tampered = Buffer.from(bytes.toString('utf8').replace('3.5', '3.6'), 'utf8');
    assert.equal(verifySignature(parseAcquisition(tampered), tampered, KEY), false);
  });

  it('only looks at the top-level signature key', () => {
    const bytes = Buffer.from('{"payload":{"signature":"nested"},"signature":"top"}', 'utf8');
    const span = jsonTopLevelStringSpan(bytes, 'signature');
    assert.ok(span);
    assert.equal(bytes.subarray(span.start, span.end).toString('utf8'), '"top"');
    assert.equal(jsonTopLevelStringSpan(Buffer.from('{"a":"signature","b":1}'), 'signature'), undefined);
  });

  it('signs and verifies CBOR with an indefinite values array and float32 values (C SDK style)', () => {
    const d = doc(
      { protected: { ver: 'v1', alg: 'HS256' } },
      { values: new CborIndefiniteArray([[new CborFloat(1, 32), new CborFloat(2.5, 32)]]) },
    );
    const bytes = signAcquisitionCbor(d, KEY);
    assert.equal(sniffDocumentFormat(bytes), 'cbor');
    const parsed = parseAcquisition(bytes);
    assert.equal(parsed.format, 'cbor');
    assert.deepEqual(parsed.doc.payload.values, [[1, 2.5]]);
    assert.equal(verifySignature(parsed, bytes, KEY), true);
    const tampered = Buffer.from(bytes);
    tampered.writeUInt8(tampered.readUInt8(tampered.length - 2) ^ 0x01, tampered.length - 2);
    assert.equal(verifySignature(parseAcquisition(tampered), tampered, KEY), false);
  });

  it('leaves alg "none" and unknown keys unverified', () => {
    const none = Buffer.from(JSON.stringify(doc({ protected: { ver: 'v1', alg: 'none' } })));
    assert.equal(verifySignature(parseAcquisition(none), none, KEY), undefined);
    const signed = signAcquisitionJson(doc(), KEY);
    assert.equal(verifySignature(parseAcquisition(signed), signed, undefined), undefined);
  });

  it('takes null iat, device_name and (with alg none) signature as absent, as the Python SDK sends them', () => {
    // Key order and nulls exactly as the SDK's json.dumps(asdict(DataAcquisition(...))) writes them.
    const sdk = {
      protected: { ver: 'v1', alg: 'none', iat: null },
      payload: {
        device_type: 'EDGE_IMPULSE_PYTHON_SDK',
        sensors: [{ name: 'accelX', units: 'ms/s' }],
        values: [[8.81], [9.83]],
        interval_ms: 100,
        device_name: null,
      },
      signature: null,
    };
    for (const bytes of [Buffer.from(JSON.stringify(sdk)), encodeCbor(sdk)]) {
      const parsed = parseAcquisition(bytes);
      assert.equal(parsed.valueCount, 2);
      assert.equal(verifySignature(parsed, bytes, KEY), undefined);
    }
  });

  it('accepts bare numbers as rows when there is one sensor', () => {
    const bytes = Buffer.from(
      JSON.stringify(doc({}, { sensors: [{ name: 'audio', units: 'wav' }], values: [1, 2, 3] })),
    );
    assert.equal(parseAcquisition(bytes).valueCount, 3);
  });

  const malformed: Array<[string, Buffer, RegExp]> = [
    ['not JSON', Buffer.from('{"protected":'), /Invalid JSON/],
    ['neither JSON nor CBOR', Buffer.from('hello'), /neither a JSON nor a CBOR/],
    ['bad CBOR', Buffer.from([0xa1, 0x61]), /Invalid CBOR/],
    ['an array', Buffer.from('[1]'), /neither/],
    [
      'ver v2',
      Buffer.from(JSON.stringify(doc({ protected: { ver: 'v2', alg: 'HS256' } }))),
      /protected\.ver/,
    ],
    [
      'alg RS256',
      Buffer.from(JSON.stringify(doc({ protected: { ver: 'v1', alg: 'RS256' } }))),
      /protected\.alg/,
    ],
    [
      'iat a string',
      Buffer.from(JSON.stringify(doc({ protected: { ver: 'v1', alg: 'none', iat: 'x' } }))),
      /iat/,
    ],
    ['no signature with HS256', Buffer.from(JSON.stringify(doc({ signature: undefined }))), /signature/],
    ['a null signature with HS256', Buffer.from(JSON.stringify(doc({ signature: null }))), /signature/],
    ['a numeric signature', Buffer.from(JSON.stringify(doc({ signature: 5 }))), /signature must be a string/],
    ['no payload', Buffer.from(JSON.stringify(doc({ payload: undefined }))), /payload/],
    ['no device_type', Buffer.from(JSON.stringify(doc({}, { device_type: undefined }))), /device_type/],
    ['device_name a number', Buffer.from(JSON.stringify(doc({}, { device_name: 5 }))), /device_name/],
    ['negative interval_ms', Buffer.from(JSON.stringify(doc({}, { interval_ms: -1 }))), /interval_ms/],
    ['no sensors', Buffer.from(JSON.stringify(doc({}, { sensors: [] }))), /sensors/],
    ['sensor without units', Buffer.from(JSON.stringify(doc({}, { sensors: [{ name: 'x' }] }))), /units/],
    ['empty values', Buffer.from(JSON.stringify(doc({}, { values: [] }))), /values must be a non-empty/],
    [
      'short row',
      Buffer.from(JSON.stringify(doc({}, { values: [[1, 2], [3]] }))),
      /values\[1\] has 1 values but there are 2/,
    ],
    ['string in a row', Buffer.from(JSON.stringify(doc({}, { values: [[1, 'a']] }))), /only numbers/],
    [
      'bare number with two sensors',
      Buffer.from(JSON.stringify(doc({}, { values: [1] }))),
      /must be an array/,
    ],
    ['CBOR with a short row', encodeCbor(doc({}, { values: [[1]] })), /values\[0\] has 1 values/],
  ];
  for (const [what, bytes, message] of malformed) {
    it(`rejects a document with ${what}`, () => {
      assert.throws(
        () => parseAcquisition(bytes),
        (err: Error) => err instanceof AcquisitionError && message.test(err.message),
      );
    });
  }
});

describe('header helpers', () => {
  it('infers labels with the documented regex', () => {
    assert.equal(inferLabel('idle.01'), 'idle');
    assert.equal(inferLabel('idle.01.wav'), 'idle');
    assert.equal(inferLabel('my-label_x 2.png'), 'my-label_x 2');
    assert.equal(inferLabel('fan+on.jpg'), 'fan');
    assert.equal(inferLabel('.hidden.jpg'), undefined);
  });

  it('decodes URL-encoded values and keeps raw ones that do not decode', () => {
    assert.equal(decodeHeaderValue('fan%20on%2Foff'), 'fan on/off');
    assert.equal(decodeHeaderValue('100% ok'), '100% ok');
    assert.equal(decodeHeaderValue('plain'), 'plain');
    assert.equal(repairUtf8(Buffer.from('café', 'utf8').toString('latin1')), 'café');
    assert.equal(repairUtf8('caf\u00e9'), 'caf\u00e9');
  });

  it('parses x-metadata as string → string', () => {
    assert.deepEqual(parseMetadata('{"line":"L1","shift":"night"}'), { line: 'L1', shift: 'night' });
    assert.deepEqual(parseMetadata(undefined), {});
    assert.throws(() => parseMetadata('{'), /not valid JSON/);
    assert.throws(() => parseMetadata('[1]'), /JSON object/);
    assert.throws(() => parseMetadata('{"n":1}'), /"n" must be a string/);
  });

  it('adds a date id before the extension', () => {
    assert.equal(withDateId('test.wav', 'abc12345'), 'test.abc12345.wav');
    assert.equal(withDateId('frame', 'abc12345'), 'frame.abc12345');
  });
});

describe('label entries and sniffing', () => {
  it('validates bounding boxes', () => {
    const ok = [{ label: 'bolt', x: 0, y: 4, width: 10, height: 12 }];
    assert.deepEqual(validateBoundingBoxes(ok, 'f'), ok);
    for (const [bad, msg] of [
      [{ label: 'bolt', x: 0, y: 0, width: 0, height: 1 }, /width must be > 0/],
      [{ label: 'bolt', x: 0, y: 0, width: 1, height: -1 }, /height must be > 0/],
      [{ label: '', x: 0, y: 0, width: 1, height: 1 }, /label is required/],
      [{ label: 'bolt', x: -1, y: 0, width: 1, height: 1 }, /x and y/],
      [{ label: 'bolt', x: '0', y: 0, width: 1, height: 1 }, /x must be a number/],
    ] as const) {
      assert.throws(
        () => validateBoundingBoxes([bad], 'f'),
        (e: Error) => e instanceof LabelEntryError && msg.test(e.message),
      );
    }
    assert.throws(() => validateBoundingBoxes({}, 'f'), /must be an array/);
  });

  it('validates structured label coverage', () => {
    const ranges = [
      { startIndex: 5, endIndex: 9, label: 'wave' },
      { startIndex: 0, endIndex: 4, label: 'idle' },
    ];
    assert.equal(validateStructuredLabels(ranges, 'f', 10).length, 2);
    assert.equal(validateStructuredLabels(ranges, 'f').length, 2);
    assert.throws(
      () => validateStructuredLabels(ranges, 'f', 12),
      /cover indices 0\.\.9 but the sample has 12/,
    );
    assert.throws(
      () => validateStructuredLabels([{ startIndex: 1, endIndex: 3, label: 'a' }], 'f'),
      /leave indices 0\.\.0 unlabeled/,
    );
    assert.throws(
      () =>
        validateStructuredLabels(
          [
            { startIndex: 0, endIndex: 3, label: 'a' },
            { startIndex: 3, endIndex: 4, label: 'b' },
          ],
          'f',
        ),
      /overlap at index 3/,
    );
    assert.throws(
      () => validateStructuredLabels([{ startIndex: 2, endIndex: 1, label: 'a' }], 'f'),
      /endIndex/,
    );
    assert.throws(() => validateStructuredLabels([], 'f'), /non-empty/);
  });

  it('sniffs by extension, verifies magic bytes, falls back to content', () => {
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2]);
    assert.deepEqual(sniffSample('a.JPG', jpeg, 6), { ok: true, kind: 'jpg', by: 'extension' });
    assert.deepEqual(sniffSample('frame', jpeg, 6), { ok: true, kind: 'jpg', by: 'content' });
    assert.deepEqual(sniffSample('a.csv', Buffer.from('a,b'), 3), { ok: true, kind: 'csv', by: 'extension' });
    const png = Buffer.from('89504e470d0a1a0a00', 'hex');
    assert.deepEqual(sniffSample('a.png', jpeg, 6), { ok: true, kind: 'jpg', by: 'content' });
    assert.deepEqual(sniffSample('a.jpeg', png, 9), { ok: true, kind: 'png', by: 'content' });
    assert.deepEqual(sniffSample('a.jpg', Buffer.from('GIF89a'), 6), {
      ok: false,
      error: 'File "a.jpg" is not a valid image (JPEG or PNG)',
    });
    assert.deepEqual(sniffSample('a.wav', jpeg, 6), {
      ok: false,
      error: 'File "a.wav" is not a valid WAV file',
    });
    assert.deepEqual(sniffSample('a.jpg', jpeg, 0), { ok: false, error: 'File "a.jpg" is empty' });
    const gif = sniffSample('a.gif', Buffer.from('GIF89a'), 6);
    assert.equal(gif.ok, false);
    assert.match(gif.ok ? '' : gif.error, /^Unsupported file type ".gif" for "a.gif"/);
    const riff = (form: string): Buffer =>
      Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from(form)]);
    const mp4 = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypisom')]);
    for (const [name, bytes, kind] of [
      ['a.wav', riff('WAVE'), 'wav'],
      ['a.avi', riff('AVI '), 'avi'],
      ['a.mp4', mp4, 'mp4'],
      ['a.parquet', Buffer.from('PAR1....'), 'parquet'],
      ['a.cbor', encodeCbor({ a: 1 }), 'cbor'],
      ['a.json', Buffer.from(' {"a":1}'), 'json'],
      ['clip', mp4, 'mp4'],
      ['doc', encodeCbor({ a: 1 }), 'cbor'],
    ] as const) {
      const r = sniffSample(name, bytes, bytes.length);
      assert.equal(r.ok && r.kind, kind, name);
    }
    assert.equal(sniffSample('a.wav', riff('AVI '), 12).ok, false);
  });

  it('checks CSV in the default format: header row, then a timestamp column or a single reading', () => {
    const csv = (text: string) => checkSampleCsv('s.csv', Buffer.from(text));
    assert.deepEqual(csv('timestamp,x\n0,1\n10,2\n\n'), {
      ok: true,
      timeSeries: true,
      columns: ['timestamp', 'x'],
      rows: 2,
    });
    assert.deepEqual(csv('\ufeff"accX", accY\n4.2,-1e3\n'), {
      ok: true,
      timeSeries: false,
      columns: ['accX', 'accY'],
      rows: 1,
    });
    const refused: Array<[string, RegExp]> = [
      ['1234567890', /no data rows after the header row/],
      ['   \n\n', /no header row/],
      ['timestamp\n0\n', /no sensor columns after "timestamp"/],
      ['accX,accY\n1,2\n3,4\n', /2 data rows but no "timestamp" first column/],
      ['Timestamp,x\n0,1\n16,2\n', /2 data rows but no "timestamp" first column/],
      ['timestamp,x\n0,1\n16\n', /data row 2 has 1 values, the header has 2 columns/],
      ['timestamp,x\n0,one\n', /data row 1, column "x": "one" is not a number/],
      ['timestamp,x\n0,\n', /data row 1, column "x": "" is not a number/],
      ['a,,b\n1,2,3\n', /empty column name/],
      ['a,b\n"1,2\n', /Quote Not Closed|quote/i],
    ];
    for (const [text, reason] of refused) {
      const r = csv(text);
      assert.equal(r.ok, false, text);
      assert.match(r.ok ? '' : r.error, /^Could not parse this CSV file "s\.csv": /, text);
      assert.match(r.ok ? '' : r.error, reason, text);
    }
  });
});
