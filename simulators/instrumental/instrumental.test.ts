import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FormData, request } from 'undici';
import { makeJpeg, makeJpegHeaderOnly, makeMp4, makePng, makeWebm } from '../media/index.ts';
import {
  DEFAULT_API_KEY,
  FILE_STATUS_PATH,
  INGEST_PATH,
  InstrumentalSimulator,
  type InstrumentalSimulatorOptions,
} from './index.ts';

const KEY = 'test-project:ci:INST:V1:fake-id:fake-secret';
const OTHER_KEY = 'other-project:ci:INST:V1:other-id:other-secret';

const DATA = {
  serialNumber: 'SN-ABCD1234',
  stationName: 'Station-Test-1',
  imageType: 'Test-Image-Type',
  imageTimestamp: { ianaTimeZone: 'Asia/Shanghai', iso8601Time: '2020-02-14T00:52:10.499Z' },
};

const PARSE_ERROR = 'Could not parse request body as the expected JSON format.';

interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
}

async function answer(res: Awaited<ReturnType<typeof request>>): Promise<Answer> {
  const text = await res.body.text();
  return {
    status: res.statusCode,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    headers: res.headers,
  };
}

interface IngestArgs {
  key?: string | null;
  data?: unknown;
  file?: Buffer | null;
  fileName?: string;
}

/** Shaped like the doc's curl example: `-F file=@…` then `-F data=…` as a plain form field. */
async function ingest(base: string, args: IngestArgs = {}): Promise<Answer> {
  const form = new FormData();
  const file = args.file === undefined ? makeJpeg({ width: 32, height: 24 }) : args.file;
  if (file) form.append('file', new Blob([file], { type: 'image/jpeg' }), args.fileName ?? 'test-image.jpeg');
  if (args.data !== null) {
    const data = args.data === undefined ? DATA : args.data;
    form.append('data', typeof data === 'string' ? data : JSON.stringify(data));
  }
  const key = args.key === undefined ? KEY : args.key;
  const headers: Record<string, string> = key === null ? {} : { 'instrumental-api-key': key };
  return answer(await request(`${base}${INGEST_PATH}`, { method: 'POST', body: form, headers }));
}

interface RawPart {
  name: string;
  filename?: string;
  contentType?: string;
  body: Buffer | string;
}

/** A hand-built multipart body (e.g. the doc's Python example: `data` typed application/json, no filename). */
async function ingestRaw(base: string, parts: RawPart[], key = KEY): Promise<Answer> {
  const boundary = '----sim-boundary-7d2f';
  const chunks: Buffer[] = [];
  for (const p of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"`;
    if (p.filename !== undefined) head += `; filename="${p.filename}"`;
    head += '\r\n';
    if (p.contentType) head += `Content-Type: ${p.contentType}\r\n`;
    chunks.push(Buffer.from(`${head}\r\n`), Buffer.from(p.body), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return answer(
    await request(`${base}${INGEST_PATH}`, {
      method: 'POST',
      body: Buffer.concat(chunks),
      headers: { 'instrumental-api-key': key, 'content-type': `multipart/form-data; boundary=${boundary}` },
    }),
  );
}

async function status(base: string, ids: string[], key: string | null = KEY): Promise<Answer> {
  const qs = ids.map((id) => `ids=${encodeURIComponent(id)}`).join('&');
  const headers: Record<string, string> = key === null ? {} : { 'instrumental-api-key': key };
  return answer(await request(`${base}${FILE_STATUS_PATH}${qs ? `?${qs}` : ''}`, { headers }));
}

function fileIdOf(a: Answer): string {
  assert.equal(a.status, 200, JSON.stringify(a.body));
  const id = a.body.fileId;
  assert.equal(typeof id, 'string');
  return id as string;
}

function startSim(options: InstrumentalSimulatorOptions = {}): {
  sim: InstrumentalSimulator;
  base: () => string;
} {
  const sim = new InstrumentalSimulator({ apiKeys: [KEY, OTHER_KEY], validationDelayMs: 50, ...options });
  let base = '';
  before(async () => {
    base = await sim.start();
  });
  after(() => sim.stop());
  beforeEach(() => sim.reset());
  return { sim, base: () => base };
}

describe('ingestImage: success paths', () => {
  // Validation takes longer than any test here: a loaded machine cannot turn PENDING_VALIDATION into UPLOADED
  // between an upload and its check (settle() ends it where a test wants UPLOADED).
  const { sim, base } = startSim({ validationDelayMs: 600_000 });

  it('accepts the curl shape (file part + data as a plain form field) and stores the record', async () => {
    const jpeg = makeJpeg({ width: 40, height: 30, seed: 5 });
    const a = await ingest(base(), { file: jpeg, fileName: 'test-image.jpeg' });
    assert.equal(a.status, 200);
    assert.deepEqual(Object.keys(a.body), ['fileId']);
    const id = fileIdOf(a);
    assert.match(id, /^[A-Za-z0-9]{12}$/);
    const f = sim.file(id);
    assert.ok(f);
    assert.equal(f.project, 'test-project');
    assert.equal(f.keyIdentifier, 'fake-id');
    assert.equal(f.fileName, 'test-image.jpeg');
    assert.equal(f.size, jpeg.length);
    assert.equal(f.sha256, createHash('sha256').update(jpeg).digest('hex'));
    assert.equal(f.status, 'PENDING_VALIDATION');
    assert.equal(f.dataPart, 'field');
    assert.deepEqual(f.data, DATA);
    assert.ok(!Number.isNaN(Date.parse(f.receivedAt)));
    assert.doesNotMatch(JSON.stringify(sim.state()), /fake-secret/);
  });

  it('accepts the Python shape (data part typed application/json, file with a content type)', async () => {
    const jpeg = makeJpeg();
    const a = await ingestRaw(base(), [
      { name: 'data', contentType: 'application/json', body: JSON.stringify(DATA) },
      { name: 'file', filename: '/Users/TestUser/Pictures/SN-1.jpg', contentType: 'image/jpeg', body: jpeg },
    ]);
    const f = sim.file(fileIdOf(a));
    assert.equal(f?.dataPart, 'field');
    assert.equal(f?.size, jpeg.length);
    assert.equal(f?.contentType, 'image/jpeg');
  });

  it('treats a data part that arrives with a filename as the data', async () => {
    const a = await ingestRaw(base(), [
      { name: 'file', filename: 'a.jpg', contentType: 'image/jpeg', body: makeJpeg() },
      { name: 'data', filename: 'data.json', contentType: 'application/json', body: JSON.stringify(DATA) },
    ]);
    assert.equal(sim.file(fileIdOf(a))?.dataPart, 'file');
    assert.equal(sim.file(fileIdOf(a))?.data.serialNumber, 'SN-ABCD1234');
  });

  it('accepts every optional field and stores it', async () => {
    const data = {
      ...DATA,
      tags: ['teardown', 'night shift'],
      configName: 'SKU-1',
      imageConfigs: { configs: { Color: 'Blue' } },
      fixtureName: 'CAM-2',
      fileName: 'custom.jpg',
      lineName: 'Line 4',
      buildName: 'EVT',
      parentAssembly: { unitSerial: 'ENC2124', relationshipName: 'Display' },
      subassemblies: [{ unitSerial: 'GLS1035', relationshipName: 'Coverglass' }],
      someFutureField: 1,
      configNameNull: null,
    };
    const id = fileIdOf(await ingest(base(), { data }));
    assert.deepEqual(sim.file(id)?.data, {
      ...DATA,
      tags: ['teardown', 'night shift'],
      configName: 'SKU-1',
      imageConfigs: { configs: { Color: 'Blue' } },
      fixtureName: 'CAM-2',
      fileName: 'custom.jpg',
      lineName: 'Line 4',
      buildName: 'EVT',
      parentAssembly: { unitSerial: 'ENC2124', relationshipName: 'Display' },
      subassemblies: [{ unitSerial: 'GLS1035', relationshipName: 'Coverglass' }],
    });
  });

  it('treats null optional fields as absent and accepts offsets and other zones', async () => {
    const data = {
      ...DATA,
      tags: null,
      lineName: null,
      imageTimestamp: { ianaTimeZone: 'America/Los_Angeles', iso8601Time: '2022-06-29T08:15:00-07:00' },
    };
    const id = fileIdOf(await ingest(base(), { data }));
    assert.equal(sim.file(id)?.data.tags, undefined);
    assert.equal(sim.file(id)?.data.lineName, undefined);
  });

  it('accepts the four extensions in any case', async () => {
    const cases: Array<[string, Buffer]> = [
      ['a.jpg', makeJpeg()],
      ['B.JPEG', makeJpeg()],
      ['c.Mp4', makeMp4({ codec: 'avc1' })],
      ['d.WEBM', makeWebm()],
    ];
    for (const [fileName, file] of cases) {
      const a = await ingest(base(), { file, fileName });
      assert.equal(a.status, 200, `${fileName}: ${JSON.stringify(a.body)}`);
    }
    assert.equal(sim.files().length, 4);
  });

  it('streams a 50 MiB file (exactly the limit) without keeping it', async () => {
    const big = makeJpeg({ width: 64, height: 48, padToBytes: 50 * 1024 * 1024 });
    const id = fileIdOf(await ingest(base(), { file: big, fileName: 'big.jpg' }));
    const f = sim.settle().find((x) => x.fileId === id);
    assert.equal(f?.size, 50 * 1024 * 1024);
    assert.equal(f?.sha256, createHash('sha256').update(big).digest('hex'));
    assert.equal(f?.status, 'UPLOADED');
    assert.deepEqual(f?.detected, { kind: 'jpeg', width: 64, height: 48 });
  });

  it('issues the same ids for the same seed', async () => {
    const a = new InstrumentalSimulator({ seed: 9, apiKeys: [KEY] });
    const b = new InstrumentalSimulator({ seed: 9, apiKeys: [KEY] });
    try {
      const ua = await a.start();
      const ub = await b.start();
      assert.equal(fileIdOf(await ingest(ua)), fileIdOf(await ingest(ub)));
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});

describe('authentication', () => {
  const { sim, base } = startSim();
  const unauthorized = { code: 'UNAUTHORIZED', msg: 'Invalid API key.' };

  it('refuses a missing key, a key without INST:V1, the bare identifier and an unknown secret with 401', async () => {
    for (const key of [
      null,
      'fake-id',
      'test-project:ci:fake-id:fake-secret',
      'test-project:ci:INST:V1:fake-id:nope',
      '',
    ]) {
      const a = await ingest(base(), { key });
      assert.equal(a.status, 401, `key ${key}`);
      assert.deepEqual(a.body, unauthorized);
    }
    assert.equal(sim.files().length, 0);
  });

  it('reads a large upload to the end before answering 401, so the client sees the status', async () => {
    const a = await ingest(base(), {
      key: 'INST:V1:fake-id:wrong',
      file: makeJpeg({ padToBytes: 3_000_000 }),
    });
    assert.equal(a.status, 401);
    assert.deepEqual(a.body, unauthorized);
  });

  it('refuses a project slug that does not match the key', async () => {
    const a = await ingest(base(), { key: 'wrong-project:ci:INST:V1:fake-id:fake-secret' });
    assert.equal(a.status, 401);
    assert.deepEqual(a.body, unauthorized);
  });

  it('accepts the key without slug and name, with any key name, and with the slug only', async () => {
    for (const key of [
      'INST:V1:fake-id:fake-secret',
      'test-project:another name:INST:V1:fake-id:fake-secret',
      'test-project:INST:V1:fake-id:fake-secret',
      'just-a-key-name:INST:V1:fake-id:fake-secret',
    ]) {
      const a = await ingest(base(), { key });
      assert.equal(a.status, 200, key);
    }
    assert.ok(sim.files().every((f) => f.project === 'test-project' && f.keyIdentifier === 'fake-id'));
  });

  it('gives keys without a slug the default project, or the project they are configured with', async () => {
    const s = new InstrumentalSimulator({
      apiKeys: [
        DEFAULT_API_KEY,
        'INST:V1:plain-id:plain-secret',
        { key: 'INST:V1:x-id:x-secret', project: 'explicit' },
      ],
    });
    try {
      const url = await s.start();
      const ids = [
        fileIdOf(await ingest(url, { key: DEFAULT_API_KEY })),
        fileIdOf(await ingest(url, { key: 'INST:V1:plain-id:plain-secret' })),
        fileIdOf(await ingest(url, { key: 'explicit:INST:V1:x-id:x-secret' })),
      ];
      assert.deepEqual(
        ids.map((id) => s.file(id)?.project),
        ['sim-project', 'sim-project', 'explicit'],
      );
      assert.equal((await ingest(url, { key: 'other:k:INST:V1:x-id:x-secret' })).status, 401);
    } finally {
      await s.stop();
    }
  });

  it('applies to fileStatus too', async () => {
    const a = await status(base(), ['e0Blm7EjlLQ2'], 'INST:V1:fake-id:wrong');
    assert.equal(a.status, 401);
    assert.deepEqual(a.body, unauthorized);
    assert.equal((await status(base(), ['e0Blm7EjlLQ2'], null)).status, 401);
  });

  it('keeps only a fingerprint of the key in the request log', async () => {
    await ingest(base());
    const log = JSON.stringify(sim.requests);
    assert.doesNotMatch(log, /fake-secret/);
    assert.equal(sim.requestsTo('ingestImage')[0]?.details.key, 'fake-id');
  });
});

describe('rate limit: one bucket per key shared by ingestImage and fileStatus', () => {
  let clock = 0;
  const { sim, base } = startSim({ now: () => clock });

  it('answers the 51st request of a burst with 429 + retry-after, saves nothing, and recovers after refill', async () => {
    clock = 0;
    const id = fileIdOf(await ingest(base()));
    for (let i = 0; i < 49; i++) {
      const s = await status(base(), [id]);
      assert.equal(s.status, 200, `status call ${i}`);
    }
    const limited = await ingest(base());
    assert.equal(limited.status, 429);
    assert.deepEqual(limited.body, { code: 'RATE_LIMIT_EXCEEDED', msg: 'Rate limit exceeded; retry later.' });
    assert.equal(limited.headers['retry-after'], '1');
    assert.equal((await status(base(), [id])).status, 429);
    assert.equal(sim.files().length, 1, 'a 429 saves nothing');

    // Another key has its own bucket.
    assert.equal((await ingest(base(), { key: OTHER_KEY })).status, 200);

    clock += 200; // 5 tokens/s → one token
    assert.equal((await ingest(base())).status, 200);
    assert.equal((await ingest(base())).status, 429);
    clock += 1000;
    for (let i = 0; i < 5; i++) assert.equal((await status(base(), [id])).status, 200);
    assert.equal((await status(base(), [id])).status, 429);
    assert.equal(sim.files().length, 3);
  });

  it('honours burst and refillPerSecond options', async () => {
    let t = 0;
    const s = new InstrumentalSimulator({ apiKeys: [KEY], burst: 2, refillPerSecond: 0.5, now: () => t });
    try {
      const url = await s.start();
      assert.equal((await ingest(url)).status, 200);
      assert.equal((await ingest(url)).status, 200);
      const a = await ingest(url);
      assert.equal(a.status, 429);
      assert.equal(a.headers['retry-after'], '2');
      t += 2000;
      assert.equal((await ingest(url)).status, 200);
    } finally {
      await s.stop();
    }
  });
});

describe('ingestImage: size limits (413)', () => {
  const { sim, base } = startSim({ maxFileBytes: 5_000, maxJsonBytes: 400 });

  it('answers 413 FILE_TOO_BIG for a file over maxFileBytes and 200 at the limit', async () => {
    const over = await ingest(base(), { file: makeJpeg({ padToBytes: 5_001 }) });
    assert.equal(over.status, 413);
    assert.deepEqual(over.body, {
      code: 'FILE_TOO_BIG',
      msg: 'The file exceeds the maximum size of 5000 bytes.',
    });
    assert.equal(sim.files().length, 0);
    const at = makeJpeg({ padToBytes: 5_000 });
    assert.equal(at.length, 5_000);
    assert.equal((await ingest(base(), { file: at })).status, 200);
  });

  it('answers 413 for a data part over maxJsonBytes, as a field or as a file part', async () => {
    const data = { ...DATA, tags: ['x'.repeat(400)] };
    const a = await ingest(base(), { data });
    assert.equal(a.status, 413);
    assert.deepEqual(a.body, {
      code: 'REQUEST_TOO_LARGE',
      msg: 'The JSON data part exceeds the maximum size of 400 bytes.',
    });
    const b = await ingestRaw(base(), [
      { name: 'file', filename: 'a.jpg', body: makeJpeg() },
      { name: 'data', filename: 'data.json', contentType: 'application/json', body: JSON.stringify(data) },
    ]);
    assert.equal(b.status, 413);
    assert.equal(sim.files().length, 0);
  });

  it('can answer FILE_TOO_BIG with 400 instead', async () => {
    const s = new InstrumentalSimulator({ apiKeys: [KEY], maxFileBytes: 100, fileTooBigStatus: 400 });
    try {
      const a = await ingest(await s.start());
      assert.equal(a.status, 400);
      assert.equal(a.body.code, 'FILE_TOO_BIG');
    } finally {
      await s.stop();
    }
  });
});

describe('ingestImage: 400 errors', () => {
  const { sim, base } = startSim();
  beforeEach(() => sim.reset());

  it('REQUEST_DATA_NOT_FOUND without a data part (checked before the file)', async () => {
    const a = await ingest(base(), { data: null });
    assert.equal(a.status, 400);
    assert.deepEqual(a.body, {
      code: 'REQUEST_DATA_NOT_FOUND',
      msg: 'No data section was present in the request.',
    });
    const b = await ingest(base(), { data: null, file: null });
    assert.equal(b.body.code, 'REQUEST_DATA_NOT_FOUND');
  });

  it('REQUEST_DATA_NOT_FOUND for a JSON body instead of multipart', async () => {
    const a = await answer(
      await request(`${base()}${INGEST_PATH}`, {
        method: 'POST',
        headers: { 'instrumental-api-key': KEY, 'content-type': 'application/json' },
        body: JSON.stringify({ data: DATA }),
      }),
    );
    assert.equal(a.status, 400);
    assert.equal(a.body.code, 'REQUEST_DATA_NOT_FOUND');
  });

  it('IMAGE_FILE_NOT_FOUND without a file part', async () => {
    const a = await ingest(base(), { file: null });
    assert.equal(a.status, 400);
    assert.deepEqual(a.body, {
      code: 'IMAGE_FILE_NOT_FOUND',
      msg: 'No file section was present in the request.',
    });
  });

  const shapeCases: Array<[string, unknown, string]> = [
    ['not JSON', '{"serialNumber":', 'ERROR :: / :: request data is not valid JSON'],
    ['an array', [DATA], 'ERROR :: / :: expected a JSON object but got an array'],
    [
      'serialNumber a number',
      { ...DATA, serialNumber: 1234 },
      'ERROR :: /serialNumber :: expected a string but got a number',
    ],
    [
      'stationName missing',
      { ...DATA, stationName: undefined },
      'ERROR :: /stationName :: missing required field, expected a string',
    ],
    [
      'imageTimestamp missing',
      { ...DATA, imageTimestamp: undefined },
      'ERROR :: /imageTimestamp :: missing required field',
    ],
    [
      'iso8601Time unparseable',
      { ...DATA, imageTimestamp: { ...DATA.imageTimestamp, iso8601Time: '14/02/2020 00:52' } },
      'ERROR :: /imageTimestamp/iso8601Time :: expected an ISO 8601 date-time',
    ],
    [
      'iso8601Time without a zone',
      { ...DATA, imageTimestamp: { ...DATA.imageTimestamp, iso8601Time: '2020-02-14T00:52:10.499' } },
      'ERROR :: /imageTimestamp/iso8601Time ::',
    ],
    [
      'iso8601Time on Feb 30',
      { ...DATA, imageTimestamp: { ...DATA.imageTimestamp, iso8601Time: '2020-02-30T00:52:10Z' } },
      'ERROR :: /imageTimestamp/iso8601Time ::',
    ],
    [
      'unknown ianaTimeZone',
      { ...DATA, imageTimestamp: { ...DATA.imageTimestamp, ianaTimeZone: 'Mars/Olympus_Mons' } },
      'ERROR :: /imageTimestamp/ianaTimeZone :: unknown IANA time zone "Mars/Olympus_Mons"',
    ],
    [
      'offset as ianaTimeZone',
      { ...DATA, imageTimestamp: { ...DATA.imageTimestamp, ianaTimeZone: '+08:00' } },
      'ERROR :: /imageTimestamp/ianaTimeZone ::',
    ],
    [
      'tags not an array',
      { ...DATA, tags: 'a,b' },
      'ERROR :: /tags :: expected an array of strings but got a string',
    ],
    [
      'tags with a number',
      { ...DATA, tags: ['a', 2] },
      'ERROR :: /tags/1 :: expected a string but got a number',
    ],
    [
      '101 tags',
      { ...DATA, tags: Array.from({ length: 101 }, (_, i) => `t${i}`) },
      'ERROR :: /tags :: at most 100 tags are allowed, got 101',
    ],
    [
      'lineName an object',
      { ...DATA, lineName: { a: 1 } },
      'ERROR :: /lineName :: expected a string but got a object',
    ],
    [
      'imageConfigs values',
      { ...DATA, imageConfigs: { configs: { a: 1 } } },
      'ERROR :: /imageConfigs/configs/a :: expected a string',
    ],
    [
      'parentAssembly a string',
      { ...DATA, parentAssembly: 'ENC1' },
      'ERROR :: /parentAssembly :: expected an object',
    ],
    [
      'subassembly without unitSerial',
      { ...DATA, subassemblies: [{ relationshipName: 'x' }] },
      'ERROR :: /subassemblies/0/unitSerial :: missing required field',
    ],
  ];
  for (const [name, data, reason] of shapeCases) {
    it(`JSON shape error: ${name}`, async () => {
      const a = await ingest(base(), { data });
      assert.equal(a.status, 400);
      assert.deepEqual(Object.keys(a.body).sort(), ['error', 'reason']);
      assert.equal(a.body.error, PARSE_ERROR);
      assert.ok(String(a.body.reason).startsWith(reason), `${a.body.reason} should start with ${reason}`);
      assert.equal(sim.files().length, 0);
    });
  }

  it('100 tags are fine', async () => {
    const a = await ingest(base(), {
      data: { ...DATA, tags: Array.from({ length: 100 }, (_, i) => `t${i}`) },
    });
    assert.equal(a.status, 200);
  });

  for (const key of ['serialNumber', 'stationName', 'imageType'] as const) {
    it(`INVALID_DATA for an empty ${key}`, async () => {
      const a = await ingest(base(), { data: { ...DATA, [key]: '' } });
      assert.equal(a.status, 400);
      assert.deepEqual(a.body, { code: 'INVALID_DATA', msg: `${key} must not be empty.` });
    });
  }

  it('INVALID_DATA for a file name without an allowed extension', async () => {
    for (const fileName of ['photo.png', 'photo', 'photo.jpg.gif', 'video.mov']) {
      const a = await ingest(base(), { fileName });
      assert.equal(a.status, 400, fileName);
      assert.deepEqual(a.body, {
        code: 'INVALID_DATA',
        msg: `The file name "${fileName}" must end in one of .jpg, .jpeg, .mp4, .webm.`,
      });
    }
    assert.equal(sim.files().length, 0);
  });

  it('INVALID_DATA for a file part without a filename', async () => {
    const a = await ingestRaw(base(), [
      { name: 'data', body: JSON.stringify(DATA) },
      { name: 'file', contentType: 'image/jpeg', body: 'not-a-file' },
    ]);
    assert.equal(a.status, 400);
    assert.equal(a.body.code, 'INVALID_DATA');
  });

  it('REQUEST_DATA_NOT_FOUND for a malformed multipart body', async () => {
    const a = await answer(
      await request(`${base()}${INGEST_PATH}`, {
        method: 'POST',
        headers: { 'instrumental-api-key': KEY, 'content-type': 'multipart/form-data' },
        body: 'garbage',
      }),
    );
    assert.equal(a.status, 400);
    assert.equal(a.body.code, 'REQUEST_DATA_NOT_FOUND');
  });
});

describe('ingestImage: assemblies and limits', () => {
  const { sim, base } = startSim({
    limits: {
      builds: 1,
      lines: 2,
      configs: 1,
      stations: 1,
      fixtures: 1,
      imageTypes: 1,
      imagesPerUnit: 2,
      subassembliesPerUnit: 3,
    },
  });
  const sub = (unitSerial: string) => ({ unitSerial, relationshipName: 'part' });

  it('INVALID_ASSEMBLY_RELATIONSHIPS for a cycle inside one request', async () => {
    const a = await ingest(base(), {
      data: { ...DATA, serialNumber: 'A', parentAssembly: sub('B'), subassemblies: [sub('B')] },
    });
    assert.equal(a.status, 400);
    assert.equal(a.body.code, 'INVALID_ASSEMBLY_RELATIONSHIPS');
    assert.match(String(a.body.msg), /cycle/);
  });

  it('INVALID_ASSEMBLY_RELATIONSHIPS for a unit that is its own subassembly', async () => {
    const a = await ingest(base(), { data: { ...DATA, serialNumber: 'A', subassemblies: [sub('A')] } });
    assert.equal(a.body.code, 'INVALID_ASSEMBLY_RELATIONSHIPS');
  });

  it('INVALID_ASSEMBLY_RELATIONSHIPS for a cycle across requests, even through an inactive link', async () => {
    // ENC ⊃ DIS ⊃ GLS, then GLS gets re-parented to ENC2 (DIS→GLS is no longer active but still counts).
    assert.equal(
      (await ingest(base(), { data: { ...DATA, serialNumber: 'ENC', subassemblies: [sub('DIS')] } })).status,
      200,
    );
    assert.equal(
      (await ingest(base(), { data: { ...DATA, serialNumber: 'GLS', parentAssembly: sub('DIS') } })).status,
      200,
    );
    assert.equal(
      (await ingest(base(), { data: { ...DATA, serialNumber: 'GLS', parentAssembly: sub('ENC2') } })).status,
      200,
    );
    const a = await ingest(base(), { data: { ...DATA, serialNumber: 'GLS', subassemblies: [sub('ENC')] } });
    assert.equal(a.status, 400);
    assert.equal(a.body.code, 'INVALID_ASSEMBLY_RELATIONSHIPS');
    const state = sim.state() as { projects: Record<string, { activeParents: Record<string, string> }> };
    assert.deepEqual(state.projects['test-project']?.activeParents, { DIS: 'ENC', GLS: 'ENC2' });
  });

  it('INVALID_ASSEMBLY_RELATIONSHIPS past the subassemblies-per-unit limit (cumulative), saving nothing', async () => {
    const data = { ...DATA, serialNumber: 'P', subassemblies: [sub('c1'), sub('c2')] };
    assert.equal((await ingest(base(), { data })).status, 200);
    const a = await ingest(base(), { data: { ...DATA, serialNumber: 'P2', parentAssembly: sub('P') } });
    assert.equal(a.status, 200);
    const b = await ingest(base(), { data: { ...DATA, serialNumber: 'P3', parentAssembly: sub('P') } });
    assert.equal(b.status, 400);
    assert.deepEqual(b.body, {
      code: 'INVALID_ASSEMBLY_RELATIONSHIPS',
      msg: 'unit P would have 4 subassemblies; at most 3 are allowed',
    });
    assert.equal(sim.files().length, 2);
  });

  it('INVALID_ASSEMBLY_RELATIONSHIPS for 350 subassemblies with the default limit', async () => {
    const s = new InstrumentalSimulator({ apiKeys: [KEY] });
    try {
      const url = await s.start();
      const subs = Array.from({ length: 350 }, (_, i) => sub(`C${i}`));
      const a = await ingest(url, { data: { ...DATA, subassemblies: subs } });
      assert.equal(a.status, 400);
      assert.equal(a.body.code, 'INVALID_ASSEMBLY_RELATIONSHIPS');
      assert.equal((await ingest(url, { data: { ...DATA, subassemblies: subs.slice(0, 349) } })).status, 200);
    } finally {
      await s.stop();
    }
  });

  it('INVALID_ASSEMBLY_RELATIONSHIPS for an empty unitSerial', async () => {
    const a = await ingest(base(), { data: { ...DATA, parentAssembly: sub('') } });
    assert.equal(a.body.code, 'INVALID_ASSEMBLY_RELATIONSHIPS');
  });

  const limitCases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['builds', { buildName: 'DVT' }, /more than 1 builds/],
    ['lines', { lineName: 'Line 9' }, /more than 2 lines/],
    ['configs', { configName: 'SKU-2' }, /more than 1 configs/],
    ['station names', { stationName: 'Other station' }, /more than 1 station names/],
    ['fixtures', { fixtureName: 'CAM-9' }, /more than 1 station-fixture IDs/],
    ['image types', { imageType: 'Other view' }, /more than 1 image\/video types/],
  ];
  for (const [name, extra, msg] of limitCases) {
    it(`LIMIT_EXCEEDED for too many ${name}, and the failed request records nothing`, async () => {
      const first = {
        ...DATA,
        buildName: 'EVT',
        lineName: 'Line 1',
        configName: 'SKU-1',
        fixtureName: 'CAM-1',
      };
      assert.equal((await ingest(base(), { data: first })).status, 200);
      // the default line ("Image Stream Line") is a second line
      assert.equal((await ingest(base(), { data: { ...DATA, serialNumber: 'SN-2' } })).status, 200);
      const saved = () =>
        JSON.stringify([sim.files().map((f) => f.fileId), (sim.state() as { projects: unknown }).projects]);
      const before = saved();
      const a = await ingest(base(), { data: { ...DATA, serialNumber: 'SN-3', ...extra } });
      assert.equal(a.status, 400);
      assert.equal(a.body.code, 'LIMIT_EXCEEDED');
      assert.match(String(a.body.msg), msg);
      assert.equal(saved(), before, 'nothing saved');
      // known values are still fine
      assert.equal((await ingest(base(), { data: { ...first, serialNumber: 'SN-4' } })).status, 200);
    });
  }

  it('LIMIT_EXCEEDED past the images-per-unit limit', async () => {
    assert.equal((await ingest(base())).status, 200);
    assert.equal((await ingest(base())).status, 200);
    const a = await ingest(base());
    assert.equal(a.status, 400);
    assert.deepEqual(a.body, {
      code: 'LIMIT_EXCEEDED',
      msg: 'Unit SN-ABCD1234 already has 2 images/videos; at most 2 are allowed',
    });
  });

  it('keeps projects apart', async () => {
    assert.equal((await ingest(base(), { data: { ...DATA, buildName: 'EVT' } })).status, 200);
    assert.equal((await ingest(base(), { key: OTHER_KEY, data: { ...DATA, buildName: 'PVT' } })).status, 200);
  });
});

describe('asynchronous validation', () => {
  let clock = 0;
  const { sim, base } = startSim({ now: () => clock, validationDelayMs: 2_000 });

  async function validated(file: Buffer, fileName: string): Promise<{ status: string; reason?: string }> {
    const id = fileIdOf(await ingest(base(), { file, fileName }));
    assert.equal(sim.file(id)?.status, 'PENDING_VALIDATION');
    sim.settle();
    const f = sim.file(id);
    const s = await status(base(), [id]);
    assert.deepEqual(s.body, { statuses: { [id]: f?.status } });
    return { status: f?.status ?? '', reason: f?.reason };
  }

  it('stays PENDING_VALIDATION for validationDelayMs, then UPLOADED', async () => {
    const id = fileIdOf(await ingest(base()));
    assert.deepEqual((await status(base(), [id])).body, { statuses: { [id]: 'PENDING_VALIDATION' } });
    clock += 1_999;
    assert.deepEqual((await status(base(), [id])).body, { statuses: { [id]: 'PENDING_VALIDATION' } });
    clock += 1;
    assert.deepEqual((await status(base(), [id])).body, { statuses: { [id]: 'UPLOADED' } });
    assert.equal(sim.file(id)?.reason, 'JPEG 32x24 is 0.0 MP');
  });

  it('UPLOADED: JPEG, 32 MP JPEG, H.264/VP9/AV1/HEVC MP4, WebM, moov-at-end H.264', async () => {
    assert.equal((await validated(makeJpeg(), 'a.jpg')).status, 'UPLOADED');
    assert.equal(
      (await validated(makeJpegHeaderOnly({ width: 6528, height: 4896 }), 'a.jpg')).status,
      'UPLOADED',
    );
    for (const codec of ['avc1', 'vp09', 'av01', 'hvc1'] as const) {
      assert.deepEqual(await validated(makeMp4({ codec }), 'v.mp4'), {
        status: 'UPLOADED',
        reason: `MP4 ${codec}`,
      });
    }
    assert.equal((await validated(makeWebm(), 'v.webm')).status, 'UPLOADED');
    const late = makeMp4({ codec: 'avc1', padToBytes: 2_000_000, moovAtEnd: true });
    assert.equal((await validated(late, 'late.mp4')).status, 'UPLOADED');
  });

  it('FAILED_VALIDATION: mp4v codec, also when moov comes after a large mdat', async () => {
    assert.deepEqual(await validated(makeMp4({ codec: 'mp4v' }), 'v.mp4'), {
      status: 'FAILED_VALIDATION',
      reason: 'video codec mp4v cannot play in web browsers (use H.264, AV1, VP9 or VP8)',
    });
    const late = makeMp4({ codec: 'mp4v', padToBytes: 3_000_000, moovAtEnd: true });
    assert.equal((await validated(late, 'late.mp4')).status, 'FAILED_VALIDATION');
  });

  it('FAILED_VALIDATION: 48 MP JPEG header', async () => {
    assert.deepEqual(await validated(makeJpegHeaderOnly({ width: 8000, height: 6000 }), 'huge.jpg'), {
      status: 'FAILED_VALIDATION',
      reason: 'image too large: 8000x6000 is 48.0 MP, over 32 MP',
    });
  });

  it('FAILED_VALIDATION: content that does not match the extension', async () => {
    const cases: Array<[Buffer, string, RegExp]> = [
      [makePng(), 'photo.jpg', /not a JPEG/],
      [Buffer.from('GIF89a......'), 'photo.jpeg', /not a JPEG/],
      [makeJpeg(), 'video.mp4', /not an ISO-BMFF/],
      [makeWebm(), 'video.mp4', /not an ISO-BMFF/],
      [makeMp4({ codec: 'vp09' }), 'video.webm', /not EBML/],
      [makeJpeg(), 'video.webm', /not EBML/],
      [Buffer.alloc(0), 'empty.jpg', /not a JPEG/],
    ];
    for (const [file, name, reason] of cases) {
      const v = await validated(file, name);
      assert.equal(v.status, 'FAILED_VALIDATION', name);
      assert.match(v.reason ?? '', reason);
    }
  });

  it('FAILED_VALIDATION: an MP4 with no moov at all', async () => {
    const ftypOnly = makeMp4({ codec: 'avc1' }).subarray(0, 32); // the ftyp box alone
    assert.deepEqual(await validated(ftypOnly, 'v.mp4'), {
      status: 'FAILED_VALIDATION',
      reason: 'MP4 has no moov box',
    });
  });
});

describe('fileStatus', () => {
  const { sim, base } = startSim({ maxStatusIds: 5 });

  it('answers several ids at once, including duplicates', async () => {
    const ok = fileIdOf(await ingest(base()));
    const bad = fileIdOf(await ingest(base(), { file: makePng(), fileName: 'x.jpg' }));
    const pending = fileIdOf(await ingest(base()));
    sim.settle();
    const late = fileIdOf(await ingest(base()));
    void pending;
    const a = await status(base(), [ok, bad, late, ok]);
    assert.equal(a.status, 200);
    assert.deepEqual(a.body, {
      statuses: { [ok]: 'UPLOADED', [bad]: 'FAILED_VALIDATION', [late]: 'PENDING_VALIDATION' },
    });
  });

  it('fails the whole call with COULD_NOT_PARSE when any id is malformed', async () => {
    const id = fileIdOf(await ingest(base()));
    for (const badId of ['short', 'e0Blm7EjlLQ2x', 'e0Blm7EjlLQ!', '']) {
      const a = await status(base(), [id, badId]);
      assert.equal(a.status, 400, badId);
      assert.deepEqual(a.body, { code: 'COULD_NOT_PARSE', msg: `Could not parse file id "${badId}".` });
    }
    const joined = await status(base(), [`${id},${id}`]);
    assert.equal(joined.body.code, 'COULD_NOT_PARSE');
  });

  it('fails the whole call with FILE_NOT_FOUND for an unknown id or another project’s file', async () => {
    const id = fileIdOf(await ingest(base()));
    const a = await status(base(), [id, 'e0Blm7EjlLQ2']);
    assert.equal(a.status, 400);
    assert.deepEqual(a.body, { code: 'FILE_NOT_FOUND', msg: 'File "e0Blm7EjlLQ2" was not found.' });
    const theirs = fileIdOf(await ingest(base(), { key: OTHER_KEY }));
    const b = await status(base(), [id, theirs]);
    assert.equal(b.status, 400);
    assert.equal(b.body.code, 'FILE_NOT_FOUND');
    assert.equal((await status(base(), [theirs], OTHER_KEY)).status, 200);
  });

  it('prefers COULD_NOT_PARSE when ids are both malformed and unknown', async () => {
    const a = await status(base(), ['e0Blm7EjlLQ2', 'bad']);
    assert.equal(a.body.code, 'COULD_NOT_PARSE');
  });

  it('answers 400 COULD_NOT_PARSE without ids or with more than maxStatusIds', async () => {
    const none = await status(base(), []);
    assert.equal(none.status, 400);
    assert.deepEqual(none.body, {
      code: 'COULD_NOT_PARSE',
      msg: 'No file ids were given; use ?ids=FILE_ID (repeatable).',
    });
    const id = fileIdOf(await ingest(base()));
    const many = await status(base(), Array(6).fill(id));
    assert.equal(many.status, 400);
    assert.deepEqual(many.body, {
      code: 'COULD_NOT_PARSE',
      msg: 'At most 5 ids may be requested at once, got 6.',
    });
    assert.equal((await status(base(), Array(5).fill(id))).status, 200);
  });
});

describe('fault injection, inspection API and lifecycle', () => {
  const { sim, base } = startSim();

  it('scripted 500 on ingestImage saves nothing, then the next call succeeds', async () => {
    sim.faults.enqueue({ route: 'ingestImage', status: 500, body: { error: 'boom' } });
    const a = await ingest(base());
    assert.equal(a.status, 500);
    assert.deepEqual(a.body, { error: 'boom' });
    assert.equal(sim.files().length, 0);
    assert.equal((await ingest(base())).status, 200);
    assert.equal(sim.files().length, 1);
  });

  it('scripted 429 with retry-after and a connection reset on fileStatus', async () => {
    const id = fileIdOf(await ingest(base()));
    sim.faults.enqueue(
      { route: 'fileStatus', status: 429, headers: { 'retry-after': '3' } },
      { route: 'fileStatus', reset: true },
    );
    const a = await status(base(), [id]);
    assert.equal(a.status, 429);
    assert.equal(a.headers['retry-after'], '3');
    await assert.rejects(status(base(), [id]));
    assert.equal((await status(base(), [id])).status, 200);
  });

  it('a reset halfway through an upload saves nothing', async () => {
    sim.faults.enqueue({ route: 'ingestImage', resetAfterBytes: 10_000 });
    await assert.rejects(ingest(base(), { file: makeJpeg({ padToBytes: 2_000_000 }) }));
    assert.equal(sim.files().length, 0);
  });

  it('probabilistic faults through /__sim/faults', async () => {
    const put = await request(`${base()}/__sim/faults`, {
      method: 'PUT',
      body: JSON.stringify({ rules: [{ routes: ['ingestImage'], statusRates: { 503: 1 } }] }),
    });
    assert.equal(put.statusCode, 200);
    await put.body.dump();
    assert.equal((await ingest(base())).status, 503);
    assert.equal((await status(base(), [])).status, 400, 'other routes unaffected');
    sim.setFaults({});
    assert.equal((await ingest(base())).status, 200);
  });

  it('shows files and projects in /__sim/state and clears them with /__sim/reset', async () => {
    const id = fileIdOf(await ingest(base()));
    const state = (await (await request(`${base()}/__sim/state`)).body.json()) as {
      files: Array<{ fileId: string; status: string }>;
      projects: Record<string, unknown>;
      counters: { ingested: number };
    };
    assert.equal(state.files[0]?.fileId, id);
    assert.ok(state.projects['test-project']);
    assert.equal(state.counters.ingested, 1);
    const reset = await request(`${base()}/__sim/reset`, { method: 'POST' });
    await reset.body.dump();
    assert.equal(sim.files().length, 0);
    assert.equal((await status(base(), [id])).body.code, 'FILE_NOT_FOUND');
  });

  it('notes what it parsed in the request log', async () => {
    await ingest(base(), { fileName: 'photo.png' });
    const rec = sim.requestsTo('ingestImage')[0];
    assert.equal(rec?.status, 400);
    assert.equal(rec?.details.code, 'INVALID_DATA');
    assert.deepEqual(
      ((rec?.details.parts ?? []) as Array<{ name: string }>).map((p) => p.name),
      ['data', 'file'],
    );
  });

  it('answers the unofficial healthcheck', async () => {
    const a = await answer(await request(`${base()}/healthcheck`));
    assert.deepEqual(a, { ...a, status: 200, body: { elasticReachable: true, databaseReachable: true } });
  });

  it('stop() closes the server, with validations still pending', async () => {
    const s = new InstrumentalSimulator({ apiKeys: [KEY], validationDelayMs: 60_000 });
    const url = await s.start();
    fileIdOf(await ingest(url));
    assert.equal(s.files()[0]?.status, 'PENDING_VALIDATION');
    await s.stop();
    assert.throws(() => s.url, /not started/);
    await assert.rejects(request(`${url}/healthcheck`));
  });

  it('lets a process exit by itself after stop() (no handle left behind)', () => {
    const script = `
      import { request } from 'undici';
      import { InstrumentalSimulator } from ${JSON.stringify(new URL('./index.ts', import.meta.url).href)};
      const sim = new InstrumentalSimulator({ validationDelayMs: 60_000 });
      const url = await sim.start();
      const res = await request(url + '/healthcheck');
      await res.body.dump();
      const st = await request(url + '/api/v0/externalData/fileStatus?ids=e0Blm7EjlLQ2', {
        headers: { 'instrumental-api-key': 'INST:V1:sim-id:sim-secret' },
      });
      await st.body.dump();
      await sim.stop();
      console.log('stopped', res.statusCode, st.statusCode);
    `;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(child.signal, null, 'the process had to be killed: something kept it alive');
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout.trim(), 'stopped 200 400');
  });
});
