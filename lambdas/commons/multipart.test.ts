import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { FormData, Response, request } from 'undici';
import { formDataEscape, multipartBody } from '#commons/multipart.ts';
import { INGEST_PATH, InstrumentalSimulator } from '#simulators/instrumental/index.ts';
import { makeJpeg } from '#simulators/media/index.ts';

/** The Content-Disposition lines of a serialized multipart body, in order. */
function dispositions(body: string): string[] {
  return [...body.matchAll(/^Content-Disposition: [^\r\n]*/gm)].map((m) => m[0]);
}

async function ours(name: string, filename: string): Promise<string> {
  const file = Buffer.from('x');
  const form = multipartBody([
    { name, filename, contentType: 'image/jpeg', size: file.length, open: () => Readable.from([file]) },
    { name, value: 'v' },
  ]);
  const chunks: Buffer[] = [];
  for await (const c of form.body) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function undicis(name: string, filename: string): Promise<string> {
  const fd = new FormData();
  fd.append(name, new File([Buffer.from('x')], filename, { type: 'image/jpeg' }));
  fd.append(name, 'v');
  return new Response(fd).text();
}

/** Names a factory's keys can give, each with a character a naive quoted-string gets wrong. */
const NAMES = [
  'SN"Q_20240315T101530.jpg',
  'a\r\nb.jpg',
  'a\rb.jpg',
  'a\nb.jpg',
  'café ü 日本 😀.jpg',
  'tab\there.jpg',
  '100%22 "quoted".jpg',
];

describe('multipart names are escaped as browsers and undici FormData escape them', () => {
  for (const filename of NAMES) {
    it(`the same Content-Disposition as undici for ${JSON.stringify(filename)}`, async () => {
      const name = `field ${filename}`;
      const mine = dispositions(await ours(name, filename));
      assert.equal(mine.length, 2);
      assert.deepEqual(mine, dispositions(await undicis(name, filename)));
    });
  }

  it('percent-encodes ", CR and LF as undici does, plus backslash and the other control characters', () => {
    assert.equal(formDataEscape('SN"Q\r\n.jpg'), 'SN%22Q%0D%0A.jpg');
    assert.equal(formDataEscape('é 100% 😀\t.jpg'), 'é 100% 😀\t.jpg');
    // beyond undici (see formDataEscape): parsers read these differently, or drop the part
    assert.equal(formDataEscape('a\\b'), 'a%5Cb');
    assert.equal(formDataEscape('a\x00\x01\x1f\x7fb'), 'a%00%01%1F%7Fb');
  });

  it('normalises line breaks in a field name to CRLF first (as undici does), not in a file name', async () => {
    const [file, field] = dispositions(await ours('a\nb', 'c\nd.jpg'));
    assert.equal(file, 'Content-Disposition: form-data; name="a%0D%0Ab"; filename="c%0Ad.jpg"');
    assert.equal(field, 'Content-Disposition: form-data; name="a%0D%0Ab"');
  });
});

describe('a hostile key through the Instrumental simulator (busboy), over HTTP', () => {
  const KEY = 'test-project:ci:INST:V1:fake-id:fake-secret';
  const sim = new InstrumentalSimulator({ apiKeys: [KEY], validationDelayMs: 0 });
  const DATA = {
    serialNumber: 'SN-3007',
    stationName: 'aoi-top',
    imageType: 'Top',
    imageTimestamp: { iso8601Time: '2024-03-15T17:15:30.000Z', ianaTimeZone: 'America/Los_Angeles' },
  };
  let base = '';
  before(async () => {
    base = await sim.start();
  });
  after(() => sim.stop());

  /** What the Instrumental plug-in sends: the file named by the key's basename, the exact name in `data`. */
  async function send(fileName: string): Promise<{ status: number; text: string }> {
    const jpeg = makeJpeg({ width: 32, height: 24 });
    const data = { ...DATA, fileName };
    const form = multipartBody([
      {
        name: 'file',
        filename: fileName,
        contentType: 'image/jpeg',
        size: jpeg.length,
        open: () => Readable.from([jpeg]),
      },
      { name: 'data', value: JSON.stringify(data), contentType: 'application/json' },
    ]);
    const res = await request(`${base}${INGEST_PATH}`, {
      method: 'POST',
      headers: {
        'instrumental-api-key': KEY,
        'content-type': form.contentType,
        'content-length': String(form.contentLength),
      },
      body: form.body,
    });
    return { status: res.statusCode, text: await res.body.text() };
  }

  const cases: Array<[string, string]> = [
    ['a double quote', 'SN"Q_20240315T101530.jpg'],
    ['CR and LF', 'SN\r\nQ.jpg'],
    ['a backslash', 'SN\\Q.jpg'],
    ['non-ASCII', 'SN-Ünïcødé 日本 😀.jpg'],
    ['a control character', 'SN\x01Q.jpg'],
    ['a quote after a backslash', 'SN\\"Q.jpg'],
    ['a percent sign', 'SN%22Q.jpg'],
  ];
  for (const [what, fileName] of cases) {
    it(`${what}: one file part with the encoded name, the exact name in data.fileName`, async () => {
      sim.reset();
      const answer = await send(fileName);
      assert.equal(answer.status, 200, answer.text);
      const [file] = sim.files();
      assert.equal(sim.files().length, 1);
      assert.equal(file?.fileName, formDataEscape(fileName));
      assert.equal(file?.data.fileName, fileName);
      const [req] = sim.requestsTo('ingestImage');
      assert.deepEqual(req?.details.parts, [
        { name: 'data', kind: 'field', contentType: 'application/json' },
        { name: 'file', kind: 'file', filename: formDataEscape(fileName), size: file?.size },
      ]);
    });
  }

  it('a backslash: busboy cuts a raw one as a client path; encoded, the whole name arrives', async () => {
    const name = 'line-1\\cam\\SN1_20240315T101530.jpg'; // a key written by a Windows tool
    sim.reset();
    assert.equal((await send(name)).status, 200);
    assert.equal(sim.files()[0]?.fileName, 'line-1%5Ccam%5CSN1_20240315T101530.jpg');
    assert.equal(sim.files()[0]?.data.fileName, name);
    // the browser rule (undici's FormData) sends it raw: busboy keeps only what follows the last backslash
    sim.reset();
    const fd = new FormData();
    fd.append('file', new File([makeJpeg({ width: 8, height: 8 })], name, { type: 'image/jpeg' }));
    fd.append('data', JSON.stringify({ ...DATA, fileName: name }));
    const raw = await request(`${base}${INGEST_PATH}`, {
      method: 'POST',
      headers: { 'instrumental-api-key': KEY },
      body: fd,
    });
    assert.equal(raw.statusCode, 200, await raw.body.text());
    assert.equal(sim.files()[0]?.fileName, 'SN1_20240315T101530.jpg');
  });
});

describe('file parts opened ahead of their turn', () => {
  /** Twelve sources of `size` bytes that count how many are open at once. */
  function sources(size: number) {
    const open = { now: 0, max: 0, opened: 0 };
    const parts = Array.from({ length: 12 }, (_, i) => ({
      name: 'data',
      filename: `f${i}.bin`,
      contentType: 'application/octet-stream',
      size,
      open: () => {
        open.now++;
        open.opened++;
        open.max = Math.max(open.max, open.now);
        const s = Readable.from([Buffer.alloc(size, i)], { objectMode: false });
        s.once('close', () => open.now--);
        return s;
      },
    }));
    return { parts, open };
  }
  const read = async (body: Readable) => {
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };

  it('sends the same bytes, with at most `parts` sources open beyond the current one', async () => {
    const plain = sources(1000);
    const expected = await read(multipartBody(plain.parts, 'B').body);
    assert.equal(plain.open.max, 1);
    const ahead = sources(1000);
    const form = multipartBody(ahead.parts, 'B', { openAhead: { parts: 3, bytes: 1_000_000 } });
    const got = await read(form.body);
    assert.ok(got.equals(expected));
    assert.equal(got.length, form.contentLength);
    assert.ok(ahead.open.max > 1 && ahead.open.max <= 4, `${ahead.open.max} open at once`);
    assert.equal(ahead.open.now, 0);
  });

  it('opens none ahead past `bytes` (a big file before them would leave them idle)', async () => {
    const big = sources(5000);
    await read(multipartBody(big.parts, 'B', { openAhead: { parts: 3, bytes: 4000 } }).body);
    assert.equal(big.open.max, 1);
  });

  it('closes the sources opened ahead when the body is abandoned', async () => {
    const s = sources(1000);
    const body = multipartBody(s.parts, 'B', { openAhead: { parts: 3, bytes: 1_000_000 } }).body;
    for await (const _ of body) break; // the request failed after its first chunk
    await new Promise((r) => setTimeout(r, 20));
    assert.ok(s.open.opened > 1);
    assert.equal(s.open.now, 0);
  });
});
