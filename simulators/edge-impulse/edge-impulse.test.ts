import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, beforeEach, describe, it } from 'node:test';
import { FormData, request } from 'undici';
import {
  CborFloat,
  CborIndefiniteArray,
  EdgeImpulseSimulator,
  encodeCbor,
  SIGNATURE_PLACEHOLDER,
  signAcquisitionCbor,
  signAcquisitionJson,
} from './index.ts';

// Fake credentials (see helper notes): never shaped like real keys.
const KEY = 'ei_test_key_local';
const KEY_P2 = 'sim-api-key-2';
const KEY_P3 = 'sim-api-key-3';
const HMAC = 'sim-hmac-key-1';
const MAX_FILE = 4096;

const sim = new EdgeImpulseSimulator({
  seed: 7,
  apiKeys: { [KEY]: { projectId: 1 }, [KEY_P2]: { projectId: 2 }, [KEY_P3]: { projectId: 3 } },
  hmacKeys: { 1: HMAC, 2: HMAC },
  maxFileBytes: MAX_FILE,
});
let base = '';
before(async () => {
  base = await sim.start();
});
after(() => sim.stop());
beforeEach(() => sim.reset());

// ------------------------------------------------------------------ fixtures

const jpeg = (tag: string): Buffer =>
  Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from(tag)]);
const png = (tag: string): Buffer =>
  Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.from(tag)]);
function wav(tag: string): Buffer {
  const head = Buffer.alloc(12);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(4 + tag.length, 4);
  head.write('WAVE', 8, 'latin1');
  return Buffer.concat([head, Buffer.from(tag)]);
}
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function acqDoc(
  values: unknown = [
    [1, 2],
    [3, 4],
  ],
  alg: 'HS256' | 'none' = 'HS256',
): Record<string, unknown> {
  return {
    protected: { ver: 'v1', alg, iat: 1_700_000_000 },
    signature: SIGNATURE_PLACEHOLDER,
    payload: {
      device_name: 'ac:87:a3:0a:2d:1b',
      device_type: 'SIM_BOARD',
      interval_ms: 10,
      sensors: [
        { name: 'accX', units: 'm/s2' },
        { name: 'accY', units: 'm/s2' },
      ],
      values,
    },
  };
}

/** The CLI's part Content-Types (EXTENSION_MAPPING). */
const CLI_TYPES: Record<string, string> = {
  jpg: 'image/jpeg',
  png: 'image/png',
  wav: 'audio/wav',
  json: 'application/json',
  cbor: 'application/cbor',
  csv: 'text/csv',
};

interface Part {
  name?: string;
  fileName?: string;
  data: Buffer | string;
  type?: string;
}

function form(parts: Part[]): FormData {
  const fd = new FormData();
  for (const p of parts) {
    if (p.fileName === undefined) fd.append(p.name ?? 'data', String(p.data));
    else
      fd.append(
        p.name ?? 'data',
        new Blob([p.data], { type: p.type ?? 'application/octet-stream' }),
        p.fileName,
      );
  }
  return fd;
}

function labelsPart(fileName: string, type: string, key: string, entries: Record<string, unknown>): Part {
  return {
    fileName,
    type: 'application/json',
    data: JSON.stringify({ version: 1, type, [key]: entries }),
  };
}

interface Answer {
  status: number;
  contentType: string;
  text: string;
}

async function post(
  path: string,
  headers: Record<string, string>,
  body?: FormData | Buffer | string,
): Promise<Answer> {
  const res = await request(`${base}${path}`, { method: 'POST', headers, body });
  return {
    status: res.statusCode,
    contentType: String(res.headers['content-type']),
    text: await res.body.text(),
  };
}

/** Shaped like the CLI uploader: one sample per request, URL-encoded label, duplicates disallowed. */
function cliHeaders(label?: string, extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = {
    'x-api-key': KEY,
    'x-upload-source': 'EDGE_IMPULSE_CLI_UPLOADER',
    'x-disallow-duplicates': '1',
    'x-device-type': 'EDGE_IMPULSE_CLI',
  };
  if (label !== undefined) h['x-label'] = encodeURIComponent(label);
  return { ...h, ...extra };
}

function cliPart(fileName: string, data: Buffer): Part {
  return { fileName, data, type: CLI_TYPES[fileName.split('.').pop() ?? ''] ?? 'application/octet-stream' };
}

function parseFiles(a: Answer): { success: boolean; files: Array<Record<string, unknown>>; error?: string } {
  return JSON.parse(a.text) as { success: boolean; files: Array<Record<string, unknown>>; error?: string };
}

// ------------------------------------------------------------------ /files

describe('POST /api/{category}/files', () => {
  it('stores a CLI-shaped upload and answers per-file JSON as text/plain', async () => {
    const img = jpeg('frame-1');
    const a = await post(
      '/api/training/files',
      cliHeaders('fan on/off'),
      form([cliPart('idle.01.jpg', img)]),
    );
    assert.equal(a.status, 200);
    assert.equal(a.contentType, 'text/plain');
    const [stored] = sim.samples(1);
    assert.ok(stored);
    assert.deepEqual(JSON.parse(a.text), {
      success: true,
      files: [{ success: true, sampleId: stored.sampleId, fileName: 'idle.01.jpg', projectId: 1 }],
    });
    assert.equal(stored.label, 'fan on/off');
    assert.equal(stored.category, 'training');
    assert.equal(stored.kind, 'jpg');
    assert.equal(stored.hash, sha256(img));
    assert.equal(stored.size, img.length);
    assert.equal(stored.uploadSource, 'EDGE_IMPULSE_CLI_UPLOADER');
    assert.equal(stored.deviceType, 'EDGE_IMPULSE_CLI');
    assert.equal(stored.endpoint, 'files');
    assert.deepEqual(stored.boundingBoxes, []);
    assert.deepEqual(stored.metadata, {});
  });

  it('accepts every category; split goes to training or testing', async () => {
    const categories = ['training', 'testing', 'anomaly', 'validation', 'post-processing', 'split'];
    for (const [i, category] of categories.entries()) {
      const a = await post(
        `/api/${category}/files`,
        cliHeaders('x'),
        form([cliPart(`s${i}.png`, png(category))]),
      );
      assert.equal(a.status, 200, category);
      assert.equal(parseFiles(a).files[0]?.success, true);
    }
    const stored = sim.samples(1);
    assert.deepEqual(
      stored.map((s) => s.requestedCategory),
      categories,
    );
    assert.deepEqual(
      stored.slice(0, 5).map((s) => s.category),
      categories.slice(0, 5),
    );
    assert.ok(['training', 'testing'].includes(stored[5]?.category ?? ''));
  });

  it('stores a Python-SDK-shaped upload (raw label, unreliable part types, metadata, x-bounding-boxes)', async () => {
    const headers = {
      'x-api-key': KEY,
      'x-upload-source': 'EDGE_IMPULSE_PYTHON_SDK',
      'x-disallow-duplicates': '1',
      'x-label': '100% scratch',
      'x-metadata': JSON.stringify({ line: 'L1', station: 'press 4' }),
      'x-bounding-boxes': JSON.stringify([{ label: 'scratch', x: 1, y: 2, width: 30, height: 40 }]),
    };
    const img = png('python');
    const a = await post(
      '/api/split/files',
      headers,
      form([{ fileName: 'part.png', data: img, type: 'multipart/form-data' }]),
    );
    assert.equal(a.status, 200);
    assert.equal(parseFiles(a).files[0]?.success, true);
    const [s] = sim.samples(1);
    assert.equal(s?.label, '100% scratch');
    assert.deepEqual(s?.metadata, { line: 'L1', station: 'press 4' });
    assert.deepEqual(s?.boundingBoxes, [{ label: 'scratch', x: 1, y: 2, width: 30, height: 40 }]);
    assert.equal(s?.uploadSource, 'EDGE_IMPULSE_PYTHON_SDK');
    assert.equal(s?.requestedCategory, 'split');
  });

  it('takes a JSON acquisition document the Python SDK labels application/cbor, and checks its signature', async () => {
    const good = signAcquisitionJson(acqDoc(), HMAC);
    const bad = signAcquisitionJson(acqDoc(), 'wrong-key');
    const a = await post(
      '/api/training/files',
      { 'x-api-key': KEY, 'x-label': 'wave' },
      form([
        { fileName: 'good.json', data: good, type: 'application/cbor' },
        { fileName: 'bad.json', data: bad, type: 'application/cbor' },
      ]),
    );
    assert.equal(a.status, 200);
    assert.deepEqual(
      parseFiles(a).files.map((f) => f.success),
      [true, true],
    );
    const [g, b] = sim.samples(1);
    assert.equal(g?.signatureValid, true);
    assert.equal(b?.signatureValid, false);
    assert.deepEqual(g?.acquisition, {
      format: 'json',
      alg: 'HS256',
      deviceType: 'SIM_BOARD',
      deviceName: 'ac:87:a3:0a:2d:1b',
      intervalMs: 10,
      sensors: [
        { name: 'accX', units: 'm/s2' },
        { name: 'accY', units: 'm/s2' },
      ],
      valueCount: 2,
    });
  });

  it('infers labels from file names, honours x-no-label, treats an empty x-label as absent', async () => {
    const cases: Array<[string, Buffer, Record<string, string>, string | undefined]> = [
      ['idle.01', wav('a'), {}, 'idle'],
      ['idle.02.wav', wav('b'), {}, 'idle'],
      ['my-label_x 2.png', png('c'), {}, 'my-label_x 2'],
      ['.hidden.jpg', jpeg('d'), {}, undefined],
      ['wave.01.jpg', jpeg('e'), { 'x-label': '', 'x-no-label': '1' }, undefined],
      ['wave.02.jpg', jpeg('f'), { 'x-label': '' }, 'wave'],
      ['wave.03.jpg', jpeg('g'), { 'x-label': 'given' }, 'given'],
    ];
    for (const [fileName, data, extra] of cases) {
      const a = await post(
        '/api/training/files',
        { 'x-api-key': KEY, ...extra },
        form([cliPart(fileName, data)]),
      );
      assert.equal(a.status, 200, fileName);
      assert.equal(parseFiles(a).files[0]?.success, true, fileName);
    }
    assert.deepEqual(
      sim.samples(1).map((s) => [s.fileName, s.label]),
      cases.map(([f, , , label]) => [f, label]),
    );
    assert.equal(sim.samples(1)[0]?.kind, 'wav');
  });

  it('appends a unique id to the file name with x-add-date-id: 1', async () => {
    const a = await post(
      '/api/training/files',
      cliHeaders(undefined, { 'x-add-date-id': '1' }),
      form([cliPart('test.wav', wav('x'))]),
    );
    const b = await post(
      '/api/training/files',
      cliHeaders(undefined, { 'x-add-date-id': '1' }),
      form([cliPart('test.wav', wav('y'))]),
    );
    const n1 = parseFiles(a).files[0]?.fileName as string;
    const n2 = parseFiles(b).files[0]?.fileName as string;
    assert.match(n1, /^test\.[a-z0-9]{8}\.wav$/);
    assert.match(n2, /^test\.[a-z0-9]{8}\.wav$/);
    assert.notEqual(n1, n2);
    assert.deepEqual(
      sim.samples(1).map((s) => [s.fileName, s.originalFileName, s.label]),
      [
        [n1, 'test.wav', 'test'],
        [n2, 'test.wav', 'test'],
      ],
    );
  });

  it('stores a batch and answers one entry per sample, in order', async () => {
    const parts = [
      cliPart('a.jpg', jpeg('1')),
      cliPart('b.png', png('2')),
      cliPart('c.csv', Buffer.from('t,x\n0,1\n')),
    ];
    const a = await post('/api/testing/files', { 'x-api-key': KEY }, form(parts));
    const body = parseFiles(a);
    const stored = sim.samples(1);
    assert.deepEqual(
      body.files,
      stored.map((s) => ({ success: true, sampleId: s.sampleId, fileName: s.fileName, projectId: 1 })),
    );
    assert.deepEqual(
      stored.map((s) => s.fileName),
      ['a.jpg', 'b.png', 'c.csv'],
    );
    assert.deepEqual(
      stored.map((s) => s.sampleId - (stored[0]?.sampleId ?? 0)),
      [0, 1, 2],
    );
  });

  it('rejects a duplicate inside a 200 and still stores the other files', async () => {
    const first = await post('/api/training/files', cliHeaders('ok'), form([cliPart('a.jpg', jpeg('same'))]));
    const firstId = parseFiles(first).files[0]?.sampleId;
    const a = await post(
      '/api/training/files',
      cliHeaders('ok'),
      form([
        cliPart('a-again.jpg', jpeg('same')),
        cliPart('b.jpg', jpeg('other')),
        cliPart('b-twin.jpg', jpeg('other')),
      ]),
    );
    assert.equal(a.status, 200);
    const files = parseFiles(a).files;
    const stored = sim.samples(1);
    assert.equal(stored.length, 2);
    assert.deepEqual(files, [
      { success: false, error: `An item with this hash already exists (ids: ${firstId})` },
      { success: true, sampleId: stored[1]?.sampleId, fileName: 'b.jpg', projectId: 1 },
      { success: false, error: `An item with this hash already exists (ids: ${stored[1]?.sampleId})` },
    ]);
  });

  it('checks duplicates whenever x-disallow-duplicates is present, whatever its value ("when set")', async () => {
    const first = await post(
      '/api/training/files',
      { 'x-api-key': KEY },
      form([cliPart('a.jpg', jpeg('d'))]),
    );
    const id = parseFiles(first).files[0]?.sampleId;
    for (const value of ['0', 'false', '', 'yes', '1']) {
      const a = await post(
        '/api/training/files',
        { 'x-api-key': KEY, 'x-disallow-duplicates': value },
        form([cliPart('a.jpg', jpeg('d'))]),
      );
      assert.deepEqual(
        parseFiles(a).files[0],
        { success: false, error: `An item with this hash already exists (ids: ${id})` },
        `x-disallow-duplicates: "${value}"`,
      );
    }
    assert.equal(sim.samples(1).length, 1);
  });

  it('stores duplicates when x-disallow-duplicates is absent, and checks hashes per project', async () => {
    for (const key of [KEY, KEY, KEY_P2]) {
      const a = await post(
        '/api/training/files',
        { 'x-api-key': key, 'x-disallow-duplicates': '1' },
        form([cliPart('a.jpg', jpeg('dup'))]),
      );
      assert.equal(a.status, 200);
    }
    assert.equal(sim.samples(1).length, 1);
    assert.equal(sim.samples(2).length, 1);
    const a = await post('/api/training/files', { 'x-api-key': KEY }, form([cliPart('a.jpg', jpeg('dup'))]));
    assert.equal(parseFiles(a).files[0]?.success, true);
    const again = await post('/api/training/files', cliHeaders(), form([cliPart('a.jpg', jpeg('dup'))]));
    const ids = sim.samples(1).map((s) => s.sampleId);
    assert.deepEqual(parseFiles(again).files[0], {
      success: false,
      error: `An item with this hash already exists (ids: ${ids.join(', ')})`,
    });
  });

  it('applies bounding_boxes.labels to the files they name, failing only the file with an invalid box', async () => {
    const boxes = labelsPart('bounding_boxes.labels', 'bounding-box-labels', 'boundingBoxes', {
      'good.jpg': [{ label: 'bolt', x: 10, y: 20, width: 30, height: 40 }],
      'bad.jpg': [{ label: 'bolt', x: 10, y: 20, width: 0, height: 40 }],
    });
    const a = await post(
      '/api/training/files',
      cliHeaders('bolt'),
      form([
        cliPart('good.jpg', jpeg('g')),
        cliPart('bad.jpg', jpeg('b')),
        cliPart('plain.jpg', jpeg('p')),
        boxes,
      ]),
    );
    assert.equal(a.status, 200);
    const files = parseFiles(a).files;
    assert.equal(files.length, 3, 'the .labels part has no entry of its own');
    assert.deepEqual(
      files.map((f) => f.success),
      [true, false, true],
    );
    assert.equal(files[1]?.error, 'Bounding box 0 for "bad.jpg": width must be > 0');
    const [good, plain] = sim.samples(1);
    assert.deepEqual(good?.boundingBoxes, [{ label: 'bolt', x: 10, y: 20, width: 30, height: 40 }]);
    assert.deepEqual(plain?.boundingBoxes, []);
  });

  it('lets a bounding_boxes.labels entry win over the legacy header', async () => {
    const headerBoxes = [{ label: 'hdr', x: 0, y: 0, width: 1, height: 1 }];
    const fileBoxes = [{ label: 'file', x: 2, y: 2, width: 5, height: 5 }];
    await post(
      '/api/training/files',
      { 'x-api-key': KEY, 'x-bounding-boxes': JSON.stringify(headerBoxes) },
      form([
        cliPart('a.jpg', jpeg('a')),
        cliPart('b.jpg', jpeg('b')),
        labelsPart('bounding_boxes.labels', 'bounding-box-labels', 'boundingBoxes', { 'b.jpg': fileBoxes }),
      ]),
    );
    assert.deepEqual(
      sim.samples(1).map((s) => s.boundingBoxes),
      [headerBoxes, fileBoxes],
    );
  });

  it('rejects the whole request when a label file names a file that is not in it', async () => {
    const a = await post(
      '/api/training/files',
      cliHeaders(),
      form([
        cliPart('a.jpg', jpeg('a')),
        labelsPart('bounding_boxes.labels', 'bounding-box-labels', 'boundingBoxes', {
          'elsewhere.jpg': [{ label: 'x', x: 0, y: 0, width: 1, height: 1 }],
        }),
      ]),
    );
    assert.equal(a.status, 400);
    assert.deepEqual(JSON.parse(a.text), {
      success: false,
      error:
        'Label file (bounding-box-labels) refers to "elsewhere.jpg", which is not a sample in this request',
    });
    assert.equal(sim.samples().length, 0);
  });

  it('rejects unreadable label files with 400', async () => {
    const cases: Array<[Part, string]> = [
      [{ fileName: 'bounding_boxes.labels', data: '{nope' }, 'is not valid JSON'],
      [
        { fileName: 'x.labels', data: JSON.stringify({ version: 2, type: 'attachments', attachments: {} }) },
        'invalid version',
      ],
      [
        { fileName: 'x.labels', data: JSON.stringify({ version: 1, type: 'mystery', boundingBoxes: {} }) },
        'invalid type "mystery"',
      ],
      [
        {
          fileName: 'x.labels',
          data: JSON.stringify({ version: 1, type: 'bounding-box-labels', boundingBoxes: [] }),
        },
        'boundingBoxes is not an object',
      ],
    ];
    for (const [part, message] of cases) {
      const a = await post('/api/training/files', cliHeaders(), form([cliPart('a.jpg', jpeg('a')), part]));
      assert.equal(a.status, 400, message);
      const body = parseFiles(a);
      assert.equal(body.success, false);
      assert.ok(body.error?.includes(message), `${body.error} should include ${message}`);
    }
    assert.equal(sim.samples().length, 0);
  });

  it('validates structured_labels.labels against the sample length (multi-label, Python SDK style)', async () => {
    const doc = (tag: number): Buffer =>
      signAcquisitionJson(acqDoc(Array.from({ length: 10 }, (_, i) => [i, tag])), HMAC);
    const full = [
      { startIndex: 0, endIndex: 4, label: 'idle' },
      { startIndex: 5, endIndex: 9, label: 'wave' },
    ];
    const structured = labelsPart('structured_labels.labels', 'structured-labels', 'structuredLabels', {
      'full.json': full,
      'gap.json': [
        { startIndex: 0, endIndex: 3, label: 'idle' },
        { startIndex: 5, endIndex: 9, label: 'wave' },
      ],
      'short.json': [{ startIndex: 0, endIndex: 7, label: 'idle' }],
    });
    const a = await post(
      '/api/training/files',
      { 'x-api-key': KEY, 'x-upload-source': 'EDGE_IMPULSE_PYTHON_SDK' },
      form([
        { fileName: 'full.json', data: doc(1), type: 'application/cbor' },
        { fileName: 'gap.json', data: doc(2), type: 'application/cbor' },
        { fileName: 'short.json', data: doc(3), type: 'application/cbor' },
        structured,
      ]),
    );
    assert.equal(a.status, 200);
    assert.deepEqual(parseFiles(a).files.slice(1), [
      { success: false, error: 'Structured labels for "gap.json" leave indices 4..4 unlabeled' },
      {
        success: false,
        error: 'Structured labels for "short.json" cover indices 0..7 but the sample has 10 values',
      },
    ]);
    const [s] = sim.samples(1);
    assert.deepEqual(s?.structuredLabels, full);
    assert.equal(s?.label, undefined, 'no single label is inferred for a multi-label sample');
  });

  it('keeps label maps and attachments; attachment parts are not samples', async () => {
    const a = await post(
      '/api/training/files',
      { 'x-api-key': KEY },
      form([
        cliPart('a.jpg', jpeg('a')),
        cliPart('b.jpg', jpeg('b')),
        { fileName: 'a-depth.png', data: png('depth'), type: 'image/png' },
        labelsPart('label_map.labels', 'label-map-labels', 'labels', { 'a.jpg': { defect: 'scratch' } }),
        labelsPart('attachments.labels', 'attachments', 'attachments', {
          'a.jpg': [{ filename: 'a-depth.png' }],
          'b.jpg': [{ filename: 'missing.png' }],
        }),
      ]),
    );
    assert.equal(a.status, 200);
    const files = parseFiles(a).files;
    assert.equal(files.length, 2);
    assert.deepEqual(files[1], {
      success: false,
      error: 'Attachment "missing.png" for "b.jpg" is not in this request',
    });
    const [s] = sim.samples(1);
    assert.deepEqual(s?.labelMap, { defect: 'scratch' });
    assert.deepEqual(s?.attachments, [
      { fileName: 'a-depth.png', size: png('depth').length, sha256: sha256(png('depth')) },
    ]);
    assert.equal(sim.samples(1).length, 1);
  });

  it('sniffs by extension and content, never by part Content-Type', async () => {
    const a = await post(
      '/api/training/files',
      { 'x-api-key': KEY },
      form([
        { fileName: 'frame', data: jpeg('no-ext'), type: 'text/plain' },
        { fileName: 'pic.gif', data: 'GIF89a....', type: 'image/gif' },
        { fileName: 'fake.jpg', data: 'GIF89a....', type: 'image/jpeg' },
        { fileName: 'empty.png', data: Buffer.alloc(0), type: 'image/png' },
        { fileName: 'real.png', data: png('ok'), type: 'application/octet-stream' },
        { fileName: 'readings.txt', data: 'accX,accY\n1,2\n', type: 'multipart/form-data' },
        { fileName: 'tone.wav', data: jpeg('not-a-wav'), type: 'audio/wav' },
      ]),
    );
    assert.equal(a.status, 200);
    const files = parseFiles(a).files;
    assert.deepEqual(
      files.map((f) => (f.success ? f.fileName : f.error)),
      [
        'frame',
        'Unsupported file type ".gif" for "pic.gif"; allowed: .wav .cbor .json .jpg .jpeg .png .csv .txt .mp4 .avi .parquet',
        'File "fake.jpg" is not a valid image (JPEG or PNG)',
        'File "empty.png" is empty',
        'real.png',
        'readings.txt',
        'File "tone.wav" is not a valid WAV file',
      ],
    );
    assert.deepEqual(
      sim.samples(1).map((s) => s.kind),
      ['jpg', 'png', 'txt'],
    );
  });

  it('stores PNG bytes under a .jpg name, and JPEG bytes under .png: images are sniffed by content', async () => {
    // Edge Impulse's own export names (the Python SDK's test data): PNG bytes, a `.png.<id>.jpg` name, sent
    // with the SDK's part type and its x-bounding-boxes header.
    const name = '1.png.4arrb5vg.ingestion-68d4ddb448-x6xj6.jpg';
    const boxes = [{ label: 'dog', x: 69, y: 155, width: 102, height: 137 }];
    const a = await post(
      '/api/training/files',
      {
        'x-api-key': KEY,
        'x-upload-source': 'EDGE_IMPULSE_PYTHON_SDK',
        'x-disallow-duplicates': '1',
        'x-bounding-boxes': JSON.stringify(boxes),
      },
      form([{ fileName: name, data: png('exported'), type: 'multipart/form-data' }]),
    );
    assert.equal(a.status, 200);
    const [stored] = sim.samples(1);
    assert.deepEqual(parseFiles(a).files, [
      { success: true, sampleId: stored?.sampleId, fileName: name, projectId: 1 },
    ]);
    assert.equal(stored?.kind, 'png');
    assert.deepEqual(stored?.boundingBoxes, boxes);
    const b = await post(
      '/api/training/files',
      cliHeaders('ok'),
      form([cliPart('photo.png', jpeg('camera'))]),
    );
    assert.equal(parseFiles(b).files[0]?.success, true);
    assert.equal(sim.samples(1)[1]?.kind, 'jpg');
  });

  it('stores the Python SDK numpy document (null iat, signature and device_name with alg none)', async () => {
    // Byte for byte what `data.numpy_timeseries_to_sample()` sends: json.dumps(asdict(DataAcquisition(...))).
    const sdkDoc = Buffer.from(
      '{"protected": {"ver": "v1", "alg": "none", "iat": null}, "payload": {"device_type": ' +
        '"EDGE_IMPULSE_PYTHON_SDK", "sensors": [{"name": "accelX", "units": "ms/s"}, {"name": "accelY", ' +
        '"units": "ms/s"}], "values": [[8.81, 0.03], [9.83, 1.04], [9.12, 0.03]], "interval_ms": 100, ' +
        '"device_name": null}, "signature": null}',
    );
    const hs256NullSignature = Buffer.from(
      JSON.stringify({ ...acqDoc(), signature: null, protected: { ver: 'v1', alg: 'HS256', iat: null } }),
    );
    const a = await post(
      '/api/split/files',
      { 'x-api-key': KEY, 'x-upload-source': 'EDGE_IMPULSE_PYTHON_SDK', 'x-label': 'wave' },
      form([
        { fileName: '5a3c9e1f0b2d4c6e.json', data: sdkDoc, type: 'multipart/form-data' },
        { fileName: 'signed.json', data: hs256NullSignature, type: 'application/cbor' },
      ]),
    );
    assert.equal(a.status, 200);
    const files = parseFiles(a).files;
    assert.equal(files[0]?.success, true);
    assert.deepEqual(files[1], {
      success: false,
      error: 'Invalid data acquisition file "signed.json": Missing "signature"',
    });
    const [s] = sim.samples(1);
    assert.equal(s?.signatureValid, undefined);
    assert.deepEqual(s?.acquisition, {
      format: 'json',
      alg: 'none',
      deviceType: 'EDGE_IMPULSE_PYTHON_SDK',
      intervalMs: 100,
      sensors: [
        { name: 'accelX', units: 'ms/s' },
        { name: 'accelY', units: 'ms/s' },
      ],
      valueCount: 3,
    });
    const onData = await post(
      '/api/training/data',
      { 'x-api-key': KEY, 'x-file-name': 'numpy.json', 'content-type': 'application/json' },
      sdkDoc,
    );
    assert.deepEqual([onData.status, onData.text], [200, 'numpy.json']);
  });

  it('fails a CSV it cannot parse per file, and stores the CSV files it can', async () => {
    const cases: Array<[string, string, string | undefined]> = [
      // The Python SDK's own sample data and its test_invalid_data case.
      ['good.01.csv', 'timestamp,accX,accY,accZ\n0,4.22,1.88,-16.89\n16,4.47,2.00,-17.88\n', undefined],
      ['good.02.txt', 'accX,accY,accZ\n4.220828473773600,1.8800472920291100,-16.89228981323240', undefined],
      [
        'bad.01.csv',
        'accX,accY,accZ\n4.22,1.88,-16.89\n4.47,2.00,-17.88\n4.31,2.49,-18.92\n',
        '3 data rows but no "timestamp" first column: a time series needs one (in milliseconds); ' +
          'without it only one data row (a single reading) is allowed',
      ],
      ['wave.01.csv', '1234567890', 'no data rows after the header row'],
    ];
    const a = await post(
      '/api/training/files',
      { 'x-api-key': KEY, 'x-disallow-duplicates': '1' },
      form(cases.map(([fileName, text]) => ({ fileName, data: text, type: 'multipart/form-data' }))),
    );
    assert.equal(a.status, 200);
    const files = parseFiles(a).files;
    for (const [i, [fileName, , reason]] of cases.entries()) {
      if (reason === undefined) assert.equal(files[i]?.success, true, fileName);
      else assert.equal(files[i]?.error, `Could not parse this CSV file "${fileName}": ${reason}`, fileName);
    }
    assert.deepEqual(
      sim.samples(1).map((s) => [s.fileName, s.kind, s.validated]),
      [
        ['good.01.csv', 'csv', true],
        ['good.02.txt', 'txt', true],
      ],
    );
  });

  it('fails a malformed acquisition document per file', async () => {
    const badRow = Buffer.from(JSON.stringify(acqDoc([[1, 2], [3]])));
    const a = await post(
      '/api/training/files',
      { 'x-api-key': KEY },
      form([
        cliPart('bad.json', badRow),
        cliPart('ok.jpg', jpeg('ok')),
        cliPart('junk.cbor', Buffer.from([0xa1, 0x61])),
      ]),
    );
    assert.equal(a.status, 200);
    const files = parseFiles(a).files;
    assert.deepEqual(files[0], {
      success: false,
      error:
        'Invalid data acquisition file "bad.json": payload.values[1] has 1 values but there are 2 sensors',
    });
    assert.equal(files[1]?.success, true);
    assert.match(String(files[2]?.error), /^Invalid data acquisition file "junk.cbor": Invalid CBOR/);
  });

  it('accepts exactly 1000 files and rejects 1001 with 400', async () => {
    const parts = (n: number): Part[] =>
      Array.from({ length: n }, (_, i) => ({ fileName: `s${i}.jpg`, data: jpeg(`v${i}`) }));
    const ok = await post('/api/training/files', { 'x-api-key': KEY }, form(parts(1000)));
    assert.equal(ok.status, 200);
    assert.equal(parseFiles(ok).files.length, 1000);
    assert.equal(sim.samples(1).length, 1000);
    sim.reset();
    const tooMany = await post('/api/training/files', { 'x-api-key': KEY }, form(parts(1001)));
    assert.equal(tooMany.status, 400);
    assert.deepEqual(JSON.parse(tooMany.text), {
      success: false,
      error: 'Too many files: 1001, the maximum is 1000 per request',
    });
    assert.equal(sim.samples().length, 0);
  });

  it('rejects a file over maxFileBytes with 400 and stores nothing; a file of exactly the limit passes', async () => {
    const exact = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), Buffer.alloc(MAX_FILE - 3, 7)]);
    const ok = await post('/api/training/files', { 'x-api-key': KEY }, form([cliPart('exact.jpg', exact)]));
    assert.equal(ok.status, 200);
    assert.equal(parseFiles(ok).files[0]?.success, true);
    const big = Buffer.concat([exact, Buffer.from([1])]);
    const a = await post(
      '/api/training/files',
      { 'x-api-key': KEY },
      form([cliPart('small.jpg', jpeg('s')), cliPart('big.jpg', big)]),
    );
    assert.equal(a.status, 400);
    assert.deepEqual(JSON.parse(a.text), {
      success: false,
      error: `File "big.jpg" is too large, the maximum is ${MAX_FILE} bytes`,
    });
    assert.equal(sim.samples(1).length, 1);
  });

  it('answers 401 for a missing or unknown x-api-key', async () => {
    const missing = await post('/api/training/files', {}, form([cliPart('a.jpg', jpeg('a'))]));
    assert.equal(missing.status, 401);
    assert.equal(missing.contentType, 'text/plain');
    assert.deepEqual(JSON.parse(missing.text), { success: false, error: 'Missing x-api-key header' });
    const wrong = await post(
      '/api/training/files',
      { 'x-api-key': 'ei_not_a_key' },
      form([cliPart('a.jpg', jpeg('a'))]),
    );
    assert.equal(wrong.status, 401);
    assert.deepEqual(JSON.parse(wrong.text), { success: false, error: 'Invalid API key' });
    assert.equal(sim.samples().length, 0);
  });

  it('answers 400 for invalid request shapes and headers', async () => {
    const one = (): FormData => form([cliPart('a.jpg', jpeg('a'))]);
    const cases: Array<[string, Record<string, string>, FormData | string, string]> = [
      [
        'not multipart',
        { 'content-type': 'application/json' },
        '{}',
        'Content-Type must be multipart/form-data',
      ],
      ['x-metadata not JSON', { 'x-metadata': '{line' }, one(), 'x-metadata header is not valid JSON'],
      [
        'x-metadata with a number',
        { 'x-metadata': '{"n":1}' },
        one(),
        'x-metadata value for "n" must be a string',
      ],
      ['x-metadata an array', { 'x-metadata': '["a"]' }, one(), 'x-metadata header must be a JSON object'],
      [
        'x-bounding-boxes not JSON',
        { 'x-bounding-boxes': '[{' },
        one(),
        'x-bounding-boxes header is not valid JSON',
      ],
      [
        'x-bounding-boxes with height 0',
        { 'x-bounding-boxes': '[{"label":"a","x":0,"y":0,"width":1,"height":0}]' },
        one(),
        'Bounding box 0 for the x-bounding-boxes header: height must be > 0',
      ],
      [
        'a part named file',
        {},
        form([{ name: 'file', fileName: 'a.jpg', data: jpeg('a') }]),
        'Unexpected field "file": every part must be named "data"',
      ],
      [
        'a data field without filename',
        {},
        form([cliPart('a.jpg', jpeg('a')), { name: 'data', data: 'text' }]),
        'Unexpected field "data": every part must be a file named "data"',
      ],
      [
        'only a labels file',
        {},
        form([labelsPart('label_map.labels', 'label-map-labels', 'labels', {})]),
        'No sample files in this request',
      ],
    ];
    for (const [what, extra, body, error] of cases) {
      const a = await post('/api/training/files', { 'x-api-key': KEY, ...extra }, body);
      assert.equal(a.status, 400, what);
      assert.deepEqual(JSON.parse(a.text), { success: false, error }, what);
    }
    assert.equal(sim.samples().length, 0);
  });

  it('answers 404 for an unknown category', async () => {
    const a = await post('/api/production/files', { 'x-api-key': KEY }, form([cliPart('a.jpg', jpeg('a'))]));
    assert.equal(a.status, 404);
    assert.deepEqual(JSON.parse(a.text), { success: false, error: 'Unknown category "production"' });
  });

  it('repairs raw UTF-8 labels and file names', async () => {
    const raw = Buffer.from('café', 'utf8').toString('latin1');
    const a = await post(
      '/api/training/files',
      { 'x-api-key': KEY, 'x-label': raw },
      form([cliPart('crème.jpg', jpeg('u'))]),
    );
    assert.equal(a.status, 200);
    assert.equal(parseFiles(a).files[0]?.fileName, 'crème.jpg');
    assert.equal(sim.samples(1)[0]?.label, 'café');
  });
});

describe('the documented 100 MB limit, in decimal units', () => {
  const big = new EdgeImpulseSimulator({ apiKeys: { [KEY]: { projectId: 1 } } });
  let bigBase = '';
  before(async () => {
    bigBase = await big.start();
  });
  after(() => big.stop());

  /** One JPEG-looking part of `size` bytes, streamed (never held whole), as the only part of a /files upload. */
  async function upload(size: number): Promise<Answer> {
    const boundary = 'sim-size-edge-boundary';
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="data"; filename="edge.jpg"\r\n` +
        'Content-Type: image/jpeg\r\n\r\n',
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const chunk = Buffer.alloc(1024 * 1024);
    async function* body(): AsyncGenerator<Buffer> {
      yield head;
      yield Buffer.from([0xff, 0xd8, 0xff]);
      let left = size - 3;
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        yield chunk.subarray(0, n);
        left -= n;
      }
      yield tail;
    }
    const res = await request(`${bigBase}/api/training/files`, {
      method: 'POST',
      headers: {
        'x-api-key': KEY,
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'content-length': String(head.length + size + tail.length),
      },
      body: Readable.from(body()),
    });
    return {
      status: res.statusCode,
      contentType: String(res.headers['content-type']),
      text: await res.body.text(),
    };
  }

  it('stores a file of exactly 100,000,000 bytes and refuses 100,000,001 with 400', async () => {
    assert.equal(big.maxFileBytes, 100_000_000);
    const ok = await upload(100_000_000);
    assert.equal(ok.status, 200);
    assert.equal(parseFiles(ok).files[0]?.success, true);
    assert.equal(big.samples(1)[0]?.size, 100_000_000);
    const over = await upload(100_000_001);
    assert.equal(over.status, 400);
    assert.deepEqual(JSON.parse(over.text), {
      success: false,
      error: 'File "edge.jpg" is too large, the maximum is 100000000 bytes',
    });
    assert.equal(big.samples(1).length, 1);
  });
});

describe('inspectBytes option', () => {
  it('stores JSON and CSV samples larger than inspectBytes unchecked, and checks smaller ones', async () => {
    const small = new EdgeImpulseSimulator({ inspectBytes: 16 });
    const url = await small.start();
    try {
      const fd = form([
        { fileName: 'big.csv', data: 'not,a\nvalid,csv\nfile,at all' },
        { fileName: 'big.json', data: '{"not": "an acquisition document"}' },
        { fileName: 'tiny.csv', data: '1234567890' },
      ]);
      const res = await request(`${url}/api/training/files`, {
        method: 'POST',
        headers: { 'x-api-key': KEY },
        body: fd,
      });
      const body = JSON.parse(await res.body.text()) as {
        files: Array<{ success: boolean; error?: string }>;
      };
      assert.deepEqual(
        body.files.map((f) => f.success),
        [true, true, false],
      );
      assert.match(body.files[2]?.error ?? '', /^Could not parse this CSV file "tiny.csv"/);
      assert.deepEqual(
        small.samples(1).map((s) => [s.fileName, s.validated]),
        [
          ['big.csv', false],
          ['big.json', false],
        ],
      );
    } finally {
      await small.stop();
    }
  });
});

describe('responseContentType option', () => {
  const jsonSim = new EdgeImpulseSimulator({ responseContentType: 'application/json' });
  after(() => jsonSim.stop());

  it('answers /files with the configured Content-Type and accepts the default key', async () => {
    const url = await jsonSim.start();
    const res = await request(`${url}/api/training/files`, {
      method: 'POST',
      headers: { 'x-api-key': 'ei_test_key_local' },
      body: form([cliPart('a.jpg', jpeg('a'))]),
    });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    const body = (await res.body.json()) as { files: Array<{ projectId: number }> };
    assert.equal(body.files[0]?.projectId, 1);
  });
});

// ------------------------------------------------------------------ /data

describe('POST /api/{category}/data (legacy)', () => {
  /** Shaped like the CLI data forwarder: JSON, URL-encoded x-file-name and x-label. */
  const forwarder = (label: string, contentType = 'application/json'): Record<string, string> => ({
    'x-api-key': KEY,
    'x-file-name': encodeURIComponent(`${label}.json`),
    'x-label': encodeURIComponent(label),
    'x-upload-source': 'EDGE_IMPULSE_CLI_FORWARDER',
    'content-type': contentType,
  });

  it('stores a signed JSON document and answers the file name as plain text', async () => {
    const body = signAcquisitionJson(acqDoc(), HMAC);
    const a = await post('/api/training/data', forwarder('wave up'), body);
    assert.equal(a.status, 200);
    assert.equal(a.contentType, 'text/plain; charset=utf-8');
    assert.equal(a.text, 'wave up.json');
    const [s] = sim.samples(1);
    assert.equal(s?.signatureValid, true);
    assert.equal(s?.label, 'wave up');
    assert.equal(s?.kind, 'json');
    assert.equal(s?.endpoint, 'data');
    assert.equal(s?.hash, sha256(body));
    assert.equal(s?.uploadSource, 'EDGE_IMPULSE_CLI_FORWARDER');
    assert.equal(s?.acquisition?.valueCount, 2);
  });

  it('stores a document with an invalid signature and flags it', async () => {
    const body = signAcquisitionJson(acqDoc(), HMAC);
    const tampered = Buffer.from(body.toString('utf8').replace('[3,4]', '[3,5]'), 'utf8');
    const a = await post('/api/testing/data', forwarder('idle'), tampered);
    assert.equal(a.status, 200);
    assert.equal(a.text, 'idle.json');
    assert.equal(sim.samples(1)[0]?.signatureValid, false);
    assert.equal(sim.samples(1)[0]?.category, 'testing');
  });

  it('stores signed CBOR with indefinite values and float32 numbers (C SDK style)', async () => {
    const doc = acqDoc(new CborIndefiniteArray([[new CborFloat(0.5, 32), new CborFloat(1, 32)]]));
    (doc.protected as Record<string, unknown>).iat = undefined;
    doc.protected = { ver: 'v1', alg: 'HS256' };
    const good = signAcquisitionCbor(doc, HMAC);
    const a = await post(
      '/api/training/data',
      { ...forwarder('idle', 'application/cbor'), 'x-file-name': 'idle.cbor' },
      good,
    );
    assert.equal(a.status, 200, a.text);
    assert.equal(a.text, 'idle.cbor');
    const bad = Buffer.from(good);
    bad.writeUInt8(bad.readUInt8(bad.length - 2) ^ 0x01, bad.length - 2); // last float32 byte, before the break
    const b = await post(
      '/api/training/data',
      { ...forwarder('idle', 'application/cbor'), 'x-file-name': 'idle.cbor' },
      bad,
    );
    assert.equal(b.status, 200);
    assert.deepEqual(
      sim.samples(1).map((s) => [s.kind, s.signatureValid, s.acquisition?.format]),
      [
        ['cbor', true, 'cbor'],
        ['cbor', false, 'cbor'],
      ],
    );
  });

  it('sniffs the body whatever its Content-Type (octet-stream, JSON labelled CBOR)', async () => {
    const body = signAcquisitionJson(acqDoc(), HMAC);
    const a = await post('/api/training/data', forwarder('one', 'application/octet-stream'), body);
    const b = await post('/api/training/data', forwarder('two', 'application/cbor'), body);
    assert.deepEqual([a.status, a.text, b.status, b.text], [200, 'one.json', 200, 'two.json']);
  });

  it('accepts the Rust runner’s multipart body (part "message")', async () => {
    const body = signAcquisitionJson(acqDoc(), HMAC);
    const a = await post(
      '/api/training/data',
      {
        'x-api-key': KEY,
        'x-file-name': encodeURIComponent('sim-device.json'),
        'x-label': encodeURIComponent('run'),
      },
      form([{ name: 'message', fileName: 'sim-device.json', data: body, type: 'application/json' }]),
    );
    assert.equal(a.status, 200);
    assert.equal(a.text, 'sim-device.json');
    assert.equal(sim.samples(1)[0]?.signatureValid, true);
    assert.deepEqual(sim.requestsTo('ingestData')[0]?.details.multipartPart, 'message');
  });

  it('leaves alg "none" and projects without an HMAC key unverified', async () => {
    const none = Buffer.from(JSON.stringify(acqDoc(undefined, 'none')));
    const a = await post('/api/training/data', forwarder('none'), none);
    const signed = signAcquisitionJson(acqDoc(), HMAC);
    const b = await post('/api/training/data', { ...forwarder('nokey'), 'x-api-key': KEY_P3 }, signed);
    assert.deepEqual([a.status, b.status], [200, 200]);
    assert.equal(sim.samples(1)[0]?.signatureValid, undefined);
    assert.equal(sim.samples(3)[0]?.signatureValid, undefined);
  });

  it('infers the label from x-file-name and adds a date id', async () => {
    const headers: Record<string, string> = { ...forwarder('x'), 'x-add-date-id': '1' };
    delete headers['x-label'];
    headers['x-file-name'] = encodeURIComponent('idle.01.json');
    const a = await post('/api/training/data', headers, signAcquisitionJson(acqDoc(), HMAC));
    assert.equal(a.status, 200);
    assert.match(a.text, /^idle\.01\.[a-z0-9]{8}\.json$/);
    assert.equal(sim.samples(1)[0]?.label, 'idle');
    assert.equal(sim.samples(1)[0]?.fileName, a.text);
  });

  it('answers 421 in plain text when x-file-name is missing', async () => {
    const headers = forwarder('x');
    delete headers['x-file-name'];
    const a = await post('/api/training/data', headers, signAcquisitionJson(acqDoc(), HMAC));
    assert.equal(a.status, 421);
    assert.equal(a.contentType, 'text/plain; charset=utf-8');
    assert.equal(a.text, 'Missing "x-file-name" header');
    const b = await post(
      '/api/training/data',
      { ...headers, 'x-metadata': '{bad' },
      signAcquisitionJson(acqDoc(), HMAC),
    );
    assert.equal(b.status, 421);
    assert.equal(sim.samples().length, 0);
  });

  it('answers 401 in plain text without a valid key', async () => {
    const headers = forwarder('x');
    delete headers['x-api-key'];
    const a = await post('/api/training/data', headers, '{}');
    assert.deepEqual([a.status, a.text], [401, 'Missing x-api-key header']);
    const b = await post('/api/training/data', { ...headers, 'x-api-key': 'nope' }, '{}');
    assert.deepEqual([b.status, b.text], [401, 'Invalid API key']);
  });

  it('answers 400 for malformed documents, empty and oversized bodies', async () => {
    const docWith = (payload: Record<string, unknown>): string => {
      const d = acqDoc();
      return JSON.stringify({ ...d, payload: { ...(d.payload as object), ...payload } });
    };
    const cases: Array<[string, Buffer | string, string]> = [
      ['invalid JSON', '{"protected":', 'Invalid message: Invalid JSON: '],
      ['garbage', 'hello', 'Invalid message: Body is neither a JSON nor a CBOR document'],
      [
        'ver v2',
        JSON.stringify({ ...acqDoc(), protected: { ver: 'v2', alg: 'HS256' } }),
        'Invalid message: protected.ver must be "v1"',
      ],
      [
        'alg RS256',
        JSON.stringify({ ...acqDoc(), protected: { ver: 'v1', alg: 'RS256' } }),
        'Invalid message: protected.alg must be "HS256" or "none"',
      ],
      [
        'no device_type',
        docWith({ device_type: undefined }),
        'Invalid message: payload.device_type is required',
      ],
      [
        'no interval_ms',
        docWith({ interval_ms: undefined }),
        'Invalid message: payload.interval_ms must be a number >= 0',
      ],
      [
        'row length',
        docWith({ values: [[1]] }),
        'Invalid message: payload.values[0] has 1 values but there are 2 sensors',
      ],
      ['bad CBOR', encodeCbor({ a: 1 }).subarray(0, 2), 'Invalid message: Invalid CBOR: '],
      ['empty body', '', 'Empty body: expected a data acquisition document'],
      [
        'oversized body',
        Buffer.alloc(MAX_FILE + 1, 0x20),
        `Body is too large, the maximum is ${MAX_FILE} bytes`,
      ],
    ];
    for (const [what, body, message] of cases) {
      const a = await post('/api/training/data', forwarder('x'), body);
      assert.equal(a.status, 400, what);
      assert.ok(a.text.startsWith(message), `${what}: ${a.text}`);
    }
    assert.equal(sim.samples().length, 0);
  });

  it('rejects a duplicate with 400 only when x-disallow-duplicates is set', async () => {
    const body = signAcquisitionJson(acqDoc(), HMAC);
    const first = await post('/api/training/data', forwarder('a'), body);
    const second = await post('/api/training/data', forwarder('a'), body);
    assert.deepEqual([first.status, second.status], [200, 200]);
    const ids = sim.samples(1).map((s) => s.sampleId);
    const third = await post('/api/training/data', { ...forwarder('a'), 'x-disallow-duplicates': '1' }, body);
    assert.equal(third.status, 400);
    assert.equal(third.text, `An item with this hash already exists (ids: ${ids.join(', ')})`);
    assert.equal(sim.samples(1).length, 2);
  });
});

// ------------------------------------------------------------------ faults and inspection

describe('fault injection and inspection', () => {
  it('plays scripted faults on ingestFiles, storing nothing, then answers normally', async () => {
    sim.faults.enqueue({
      route: 'ingestFiles',
      status: 500,
      body: { success: false, error: 'injected' },
      times: 2,
    });
    const codes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const a = await post(
        '/api/training/files',
        cliHeaders('x'),
        form([cliPart(`f${i}.jpg`, jpeg(`f${i}`))]),
      );
      codes.push(a.status);
    }
    assert.deepEqual(codes, [500, 500, 200]);
    assert.deepEqual(
      sim.samples(1).map((s) => s.fileName),
      ['f2.jpg'],
    );
  });

  it('resets the connection on ingestData on demand', async () => {
    sim.faults.enqueue({ route: 'ingestData', reset: true });
    await assert.rejects(
      request(`${base}/api/training/data`, {
        method: 'POST',
        headers: { 'x-api-key': KEY, 'x-file-name': 'a.json' },
        body: signAcquisitionJson(acqDoc(), HMAC),
      }),
    );
    assert.equal(sim.requestsTo('ingestData')[0]?.outcome, 'fault-reset');
    assert.equal(sim.samples().length, 0);
  });

  it('applies probabilistic fault rules set through the inspection API', async () => {
    const put = await request(`${base}/__sim/faults`, {
      method: 'PUT',
      body: JSON.stringify({ rules: [{ routes: ['ingestFiles'], statusRates: { 503: 1 } }] }),
    });
    assert.equal(put.statusCode, 200);
    await put.body.dump();
    const a = await post('/api/training/files', cliHeaders('x'), form([cliPart('a.jpg', jpeg('a'))]));
    assert.equal(a.status, 503);
    const b = await post(
      '/api/training/data',
      { 'x-api-key': KEY, 'x-file-name': 'a.json' },
      signAcquisitionJson(acqDoc(), HMAC),
    );
    assert.equal(b.status, 200, 'rule limited to ingestFiles');
  });

  it('shows samples in /__sim/state, notes results and redacts the key in the log', async () => {
    await post(
      '/api/training/files',
      cliHeaders('x'),
      form([cliPart('a.jpg', jpeg('a')), cliPart('b.gif', Buffer.from('GIF89a'))]),
    );
    const state = (await (await request(`${base}/__sim/state`)).body.json()) as {
      totalSamples: number;
      projects: Record<string, { samples: Array<{ fileName: string }> }>;
    };
    assert.equal(state.totalSamples, 1);
    assert.equal(state.projects['1']?.samples[0]?.fileName, 'a.jpg');
    const rec = sim.requestsTo('ingestFiles')[0];
    assert.equal(rec?.details.projectId, 1);
    assert.equal((rec?.details.results as unknown[] | undefined)?.length, 2);
    assert.doesNotMatch(JSON.stringify(sim.requests), /ei_test_key_local/);
    const reset = await request(`${base}/__sim/reset`, { method: 'POST' });
    await reset.body.dump();
    assert.equal(sim.samples().length, 0);
  });

  it('issues the same sample ids for the same seed', async () => {
    const other = new EdgeImpulseSimulator({ seed: 7 });
    const url = await other.start();
    after(() => other.stop());
    const res = await request(`${url}/api/training/files`, {
      method: 'POST',
      headers: { 'x-api-key': KEY },
      body: form([cliPart('a.jpg', jpeg('a'))]),
    });
    const body = (await res.body.json()) as { files: Array<{ sampleId: number }> };
    await post('/api/training/files', { 'x-api-key': KEY }, form([cliPart('a.jpg', jpeg('a'))]));
    assert.equal(body.files[0]?.sampleId, sim.samples(1)[0]?.sampleId);
  });
});
