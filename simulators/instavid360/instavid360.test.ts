import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { FormData, request } from 'undici';
import { InstaVid360Simulator, lpaRect } from './index.ts';

// ---------------------------------------------------------------------------------------------------------------
// Tiny image generators and decoders (independent of the simulator's own image code)
// ---------------------------------------------------------------------------------------------------------------

type Px = [number, number, number, number];

function makePng(width: number, height: number, pixel: (x: number, y: number) => Px): Buffer {
  const png = new PNG({ width, height });
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      const [r, g, b, a] = pixel(x, y);
      png.data[i] = r;
      png.data[i + 1] = g;
      png.data[i + 2] = b;
      png.data[i + 3] = a;
    }
  }
  return PNG.sync.write(png);
}

function makeJpeg(width: number, height: number, pixel: (x: number, y: number) => Px, quality = 100): Buffer {
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = pixel(x, y);
      data.set([r, g, b, 255], (y * width + x) * 4);
    }
  }
  return jpeg.encode({ width, height, data }, quality).data;
}

interface Decoded {
  width: number;
  height: number;
  at(x: number, y: number): Px;
}

function decoded(width: number, height: number, data: Uint8Array): Decoded {
  return {
    width,
    height,
    at: (x, y) => {
      const i = (y * width + x) * 4;
      return [data[i] as number, data[i + 1] as number, data[i + 2] as number, data[i + 3] as number];
    },
  };
}

function decodePng(bytes: Buffer): Decoded {
  const png = PNG.sync.read(bytes);
  return decoded(png.width, png.height, png.data);
}

function decodeJpeg(bytes: Buffer): Decoded {
  const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true });
  return decoded(img.width, img.height, img.data);
}

function near(actual: Px, expected: [number, number, number], tolerance: number, label: string): void {
  for (let c = 0; c < 3; c++) {
    assert.ok(
      Math.abs((actual[c] as number) - expected[c]!) <= tolerance,
      `${label}: got ${actual.join(',')} expected ≈ ${expected.join(',')}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP helpers (raw undici)
// ---------------------------------------------------------------------------------------------------------------

interface Envelope {
  success: boolean;
  code: number;
  locale: string;
  message: string;
  data: Record<string, unknown>;
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Envelope;
}

const TOKEN_A = 'sim-token-alice-1';
const TOKEN_A2 = 'sim-token-alice-2';
const TOKEN_B = 'sim-token-bob-1';
const TOKENS = { [TOKEN_A]: { user: 'alice' }, [TOKEN_A2]: { user: 'alice' }, [TOKEN_B]: { user: 'bob' } };

async function answer(res: Awaited<ReturnType<typeof request>>): Promise<Answer> {
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, body: JSON.parse(text) as Envelope };
}

async function upload(
  base: string,
  token: string | undefined,
  kind: string,
  bytes: Buffer,
  opts: { type?: string; filename?: string; prefix?: string; field?: string } = {},
): Promise<Answer> {
  const form = new FormData();
  const blob = opts.type === undefined ? new Blob([bytes]) : new Blob([bytes], { type: opts.type });
  form.append(opts.field ?? 'image', blob, opts.filename ?? 'image.bin');
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const res = await request(`${base}${opts.prefix ?? '/api/v1'}/image/upload/${kind}`, {
    method: 'POST',
    headers,
    body: form,
  });
  return answer(res);
}

async function uploadKey(
  base: string,
  token: string,
  kind: string,
  bytes: Buffer,
  type = 'image/png',
): Promise<string> {
  const res = await upload(base, token, kind, bytes, { type });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.data.imagekey as string;
}

async function postJson(
  base: string,
  path: string,
  token: string | undefined,
  body: unknown,
): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await request(`${base}${path}`, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return answer(res);
}

async function status(base: string, token: string, task: string, prefix = '/api'): Promise<Answer> {
  const res = await request(`${base}${prefix}/image/task/${task}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
  });
  return answer(res);
}

async function createdTask(res: Answer): Promise<string> {
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.success, true);
  const task = res.body.data.task as string;
  assert.match(task, /^[A-Za-z0-9]{10}$/);
  return task;
}

async function fetchBytes(url: string): Promise<{ status: number; type: string; bytes: Buffer }> {
  const res = await request(url);
  const bytes = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, type: String(res.headers['content-type']), bytes };
}

/** A loopback HTTP server that records every callback it receives. */
async function startReceiver(answerStatus = 200) {
  const received: Array<{ path: string; headers: IncomingHttpHeaders; body: unknown }> = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        path: req.url ?? '',
        headers: req.headers,
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
      });
      res.writeHead(answerStatus, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// Standard test images
const W = 40;
const H = 30;
const RED: Px = [200, 0, 0, 255];
const GREEN: Px = [0, 255, 0, 255];
const isRed = (x: number, y: number) => x >= 10 && x < 30 && y >= 8 && y < 22;
const ORIGINAL_PNG = makePng(W, H, (x, y) => (isRed(x, y) ? RED : [255, 255, 255, 255]));
/** Half-size background: the simulator scales it to the original (nearest neighbour). */
const bgPixel = (x: number, y: number): Px => [0, 50 + x * 8, 200 - y * 6, 255];
const BACKGROUND_PNG = makePng(W / 2, H / 2, bgPixel);
const isGreen = (x: number, y: number) => x >= 32 && y < 6;
const OVERLAY_PNG = makePng(W, H, (x, y) => (isGreen(x, y) ? GREEN : [0, 0, 0, 0]));
const SMALL_JPEG = makeJpeg(16, 12, (x) => [x * 10, 80, 160, 255]);

// ---------------------------------------------------------------------------------------------------------------

describe('InstaVid360 simulator: auth and uploads', () => {
  const sim = new InstaVid360Simulator({ tokens: TOKENS, clock: 'manual', requestsPerMinute: Infinity });
  let base = '';
  before(async () => {
    base = await sim.start();
  });
  after(() => sim.stop());

  it('uploads a JPEG under /api/v1 and a PNG under /api, answering the documented envelope', async () => {
    const a = await upload(base, TOKEN_A, 'original', SMALL_JPEG, {
      type: 'image/jpeg',
      filename: 'car.jpg',
    });
    assert.equal(a.status, 200);
    assert.match(String(a.body.data.imagekey), /^[A-Za-z0-9]{10}$/);
    assert.deepEqual(a.body, {
      success: true,
      code: 0,
      locale: 'en',
      message: 'OK',
      data: { imagekey: a.body.data.imagekey },
    });
    const b = await upload(base, TOKEN_A, 'background', BACKGROUND_PNG, {
      type: 'image/png',
      prefix: '/api',
    });
    assert.equal(b.status, 200);
    assert.notEqual(b.body.data.imagekey, a.body.data.imagekey);

    const jpegUpload = sim.getUpload(a.body.data.imagekey as string);
    assert.equal(jpegUpload?.user, 'alice');
    assert.equal(jpegUpload?.kind, 'original');
    assert.equal(jpegUpload?.type, 'image/jpeg');
    assert.equal(jpegUpload?.size, SMALL_JPEG.length);
    assert.deepEqual([jpegUpload?.width, jpegUpload?.height], [16, 12]);
    assert.ok(jpegUpload?.bytes.equals(SMALL_JPEG));
    const pngUpload = sim.getUpload(b.body.data.imagekey as string);
    assert.equal(pngUpload?.kind, 'background');
    assert.equal(pngUpload?.type, 'image/png');
    assert.deepEqual([pngUpload?.width, pngUpload?.height], [W / 2, H / 2]);
    assert.equal(sim.requestsTo('upload').length, 2);
  });

  it('decides a generic declared type by sniffing, and accepts an overlay', async () => {
    const res = await upload(base, TOKEN_A, 'overlay', OVERLAY_PNG); // Blob without type: octet-stream
    assert.equal(res.status, 200);
    assert.equal(sim.getUpload(res.body.data.imagekey as string)?.type, 'image/png');
  });

  it('rejects a file that is neither JPEG nor PNG with 422', async () => {
    const gif = Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1');
    const res = await upload(base, TOKEN_A, 'original', gif, { type: 'image/gif', filename: 'x.gif' });
    assert.equal(res.status, 422);
    assert.deepEqual(res.body, {
      success: false,
      code: 422,
      locale: 'en',
      message: 'The given data was invalid.',
      data: { messages: ['The image must be a file of type: jpeg, png.'] },
    });
  });

  it('rejects PNG bytes declared as JPEG with 422', async () => {
    const res = await upload(base, TOKEN_A, 'original', ORIGINAL_PNG, { type: 'image/jpeg' });
    assert.equal(res.status, 422);
    assert.deepEqual(res.body.data.messages, [
      'The image content (image/png) does not match its declared type (image/jpeg).',
    ]);
  });

  it('rejects an upload over 2 MB with 422 and accepts one of exactly 2 MiB', async () => {
    const over = Buffer.concat([SMALL_JPEG, Buffer.alloc(2 * 1024 * 1024 + 1 - SMALL_JPEG.length)]);
    const res = await upload(base, TOKEN_A, 'original', over, { type: 'image/jpeg' });
    assert.equal(res.status, 422);
    assert.deepEqual(res.body.data.messages, ['The image must not be greater than 2048 kilobytes.']);

    const exact = over.subarray(0, 2 * 1024 * 1024);
    const okRes = await upload(base, TOKEN_A, 'original', exact, { type: 'image/jpeg' });
    assert.equal(okRes.status, 200);
    assert.equal(sim.getUpload(okRes.body.data.imagekey as string)?.size, 2 * 1024 * 1024);
  });

  it('rejects a missing image part, a non-multipart body, an unknown kind and a corrupt header with 422', async () => {
    const noPart = await upload(base, TOKEN_A, 'original', SMALL_JPEG, { field: 'file', type: 'image/jpeg' });
    assert.equal(noPart.status, 422);
    assert.deepEqual(noPart.body.data.messages, ['The image field is required.']);

    const notMultipart = await postJson(base, '/api/v1/image/upload/original', TOKEN_A, { image: 'x' });
    assert.equal(notMultipart.status, 422);
    assert.deepEqual(notMultipart.body.data.messages, [
      'The image field is required.',
      'The request must be multipart/form-data.',
    ]);

    const kind = await upload(base, TOKEN_A, 'logo', SMALL_JPEG, { type: 'image/jpeg' });
    assert.equal(kind.status, 422);
    assert.deepEqual(kind.body.data.messages, [
      'The selected image type is invalid (use original, background, overlay).',
    ]);

    const corrupt = await upload(base, TOKEN_A, 'original', SMALL_JPEG.subarray(0, 4), {
      type: 'image/jpeg',
    });
    assert.equal(corrupt.status, 422);
    assert.deepEqual(corrupt.body.data.messages, ['The image could not be read (corrupt or truncated).']);
  });

  it('answers 401 with the envelope for a missing or unknown token', async () => {
    const missing = await upload(base, undefined, 'original', SMALL_JPEG, { type: 'image/jpeg' });
    assert.equal(missing.status, 401);
    assert.equal(missing.headers['www-authenticate'], 'Bearer');
    assert.deepEqual(missing.body, {
      success: false,
      code: 401,
      locale: 'en',
      message: 'Unauthenticated.',
      data: { messages: ['An Authorization: Bearer token is required.'] },
    });
    const unknown = await upload(base, 'not-a-token', 'original', SMALL_JPEG, { type: 'image/jpeg' });
    assert.equal(unknown.status, 401);
    assert.deepEqual(unknown.body.data.messages, ['The bearer token is invalid.']);
    const basic = await postJson(base, '/api/image/task/lpa', undefined, {});
    assert.equal(basic.status, 401);
    const statusNoAuth = await request(`${base}/api/image/task/ABCDEFGHIJ`, { method: 'POST' });
    assert.equal(statusNoAuth.statusCode, 401);
    await statusNoAuth.body.dump();
  });

  it('lets a user use their uploads with any of their tokens; keeps bytes and tokens out of the state', async () => {
    const original = await uploadKey(base, TOKEN_A, 'original', ORIGINAL_PNG);
    const background = await uploadKey(base, TOKEN_A, 'background', BACKGROUND_PNG);
    const res = await postJson(base, '/api/image/task/bg-replace', TOKEN_A2, {
      reference: 'multi-token-1',
      original,
      background,
      overlay: null,
    });
    await createdTask(res);
    const state = await request(`${base}/__sim/state`);
    const text = await state.body.text();
    assert.equal(state.statusCode, 200);
    assert.doesNotMatch(text, /sim-token-alice/);
    const parsed = JSON.parse(text) as { uploads: Array<Record<string, unknown>>; users: unknown };
    assert.ok(parsed.uploads.length >= 5);
    assert.ok(parsed.uploads.every((u) => !('bytes' in u) && typeof u.size === 'number' && 'kind' in u));
    assert.deepEqual(parsed.users, [
      { user: 'alice', tokens: 2 },
      { user: 'bob', tokens: 1 },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('InstaVid360 simulator: task validation', () => {
  const sim = new InstaVid360Simulator({ tokens: TOKENS, clock: 'manual', requestsPerMinute: Infinity });
  let base = '';
  let original = '';
  let background = '';
  let overlay = '';
  before(async () => {
    base = await sim.start();
    original = await uploadKey(base, TOKEN_A, 'original', ORIGINAL_PNG);
    background = await uploadKey(base, TOKEN_A, 'background', BACKGROUND_PNG);
    overlay = await uploadKey(base, TOKEN_A, 'overlay', OVERLAY_PNG);
  });
  after(() => sim.stop());

  it('rejects unknown imagekeys with 422', async () => {
    const res = await postJson(base, '/api/image/task/bg-replace', TOKEN_A, {
      reference: 'unknown-keys',
      original: 'AAAAAAAAAA',
      background: 'BBBBBBBBBB',
      overlay: 'CCCCCCCCCC',
      options: { shadow: false },
      meta: {},
    });
    assert.equal(res.status, 422);
    assert.deepEqual(res.body, {
      success: false,
      code: 422,
      locale: 'en',
      message: 'The given data was invalid.',
      data: {
        messages: [
          'The selected original is invalid.',
          'The selected background is invalid.',
          'The selected overlay is invalid.',
        ],
      },
    });
  });

  it("rejects another user's imagekeys and keys of the wrong kind", async () => {
    const bob = await postJson(base, '/api/image/task/bg-replace', TOKEN_B, {
      reference: 'bob-1',
      original,
      background,
      overlay: null,
    });
    assert.equal(bob.status, 422);
    assert.deepEqual(bob.body.data.messages, [
      'The selected original is invalid.',
      'The selected background is invalid.',
    ]);
    const swapped = await postJson(base, '/api/image/task/bg-replace', TOKEN_A, {
      reference: 'swapped',
      original: background,
      background: original,
      overlay: background,
    });
    assert.equal(swapped.status, 422);
    assert.deepEqual(swapped.body.data.messages, [
      'The selected original is a background image, not a original image.',
      'The selected background is a original image, not a background image.',
      'The selected overlay is a background image, not a overlay image.',
    ]);
    const lpaWrongKind = await postJson(base, '/api/image/task/lpa', TOKEN_A, {
      reference: 'lpa-wrong-kind',
      original: background,
    });
    assert.equal(lpaWrongKind.status, 422);
    assert.deepEqual(lpaWrongKind.body.data.messages, [
      'The selected original is a background image, not a original image.',
    ]);
  });

  it('rejects missing fields, a missing overlay key and bad options with every reason', async () => {
    const res = await postJson(base, '/api/v1/image/task/bg-replace', TOKEN_A, {
      options: { shadow: 'yes' },
      meta: 5,
      callback_url: 'not a url',
    });
    assert.equal(res.status, 422);
    assert.deepEqual(res.body.data.messages, [
      'The reference field is required.',
      'The original field is required.',
      'The background field is required.',
      'The overlay field must be present.',
      'The options.shadow field must be true or false.',
      'The meta must be an array.',
      'The callback url must be a valid URL.',
    ]);
    const lpa = await postJson(base, '/api/image/task/lpa', TOKEN_A, { reference: 7, options: {} });
    assert.equal(lpa.status, 422);
    assert.deepEqual(lpa.body.data.messages, [
      'The reference must be a string.',
      'The original field is required.',
    ]);
  });

  it('rejects malformed JSON, a non-object body and a non-JSON content type', async () => {
    const bad = await postJson(base, '/api/image/task/bg-replace', TOKEN_A, '{"reference": ');
    assert.equal(bad.status, 422);
    assert.deepEqual(bad.body.data.messages, ['The request body is not valid JSON.']);
    const list = await postJson(base, '/api/image/task/lpa', TOKEN_A, '[1,2]');
    assert.equal(list.status, 422);
    assert.deepEqual(list.body.data.messages, ['The request body must be a JSON object.']);
    const form = await answer(
      await request(`${base}/api/image/task/lpa`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN_A}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: `reference=r&original=${original}`,
      }),
    );
    assert.equal(form.status, 422);
    assert.deepEqual(form.body.data.messages, [
      'The request body must be JSON (Content-Type: application/json).',
    ]);
  });

  it('rejects a duplicate reference for the same user (any task type) but not for another user', async () => {
    const body = { reference: 'dup-ref', original, background, overlay, options: { shadow: true }, meta: {} };
    await createdTask(await postJson(base, '/api/image/task/bg-replace', TOKEN_A, body));
    const again = await postJson(base, '/api/image/task/bg-replace', TOKEN_A2, body);
    assert.equal(again.status, 422);
    assert.deepEqual(again.body.data.messages, ['The reference has already been taken.']);
    const lpa = await postJson(base, '/api/image/task/lpa', TOKEN_A, { reference: 'dup-ref', original });
    assert.equal(lpa.status, 422);
    assert.deepEqual(lpa.body.data.messages, ['The reference has already been taken.']);
    const bobOriginal = await uploadKey(base, TOKEN_B, 'original', ORIGINAL_PNG);
    await createdTask(
      await postJson(base, '/api/image/task/lpa', TOKEN_B, { reference: 'dup-ref', original: bobOriginal }),
    );
    assert.deepEqual(sim.quotaUsed('alice'), { bgReplace: 1, lpa: 0 });
    assert.deepEqual(sim.quotaUsed('bob'), { bgReplace: 0, lpa: 1 });
  });

  it("answers 404 for an unknown task and for another user's task, 405 for GET", async () => {
    const task = await createdTask(
      await postJson(base, '/api/image/task/lpa', TOKEN_A, { reference: 'lpa-404', original, options: {} }),
    );
    const unknown = await status(base, TOKEN_A, 'ZZZZZZZZZZ');
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.body, {
      success: false,
      code: 404,
      locale: 'en',
      message: 'Task not found.',
      data: { messages: ['The selected task is invalid.'] },
    });
    const other = await status(base, TOKEN_B, task);
    assert.equal(other.status, 404);
    assert.equal(other.body.message, 'Task not found.');
    const mine = await status(base, TOKEN_A2, task, '/api/v1');
    assert.equal(mine.status, 200);
    const get = await answer(
      await request(`${base}/api/image/task/${task}`, { headers: { authorization: `Bearer ${TOKEN_A}` } }),
    );
    assert.equal(get.status, 405);
    assert.equal(get.headers.allow, 'POST');
    assert.equal(get.body.success, false);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('InstaVid360 simulator: lifecycle and processed results', () => {
  const sim = new InstaVid360Simulator({
    tokens: TOKENS,
    clock: 'manual',
    requestsPerMinute: Infinity,
    processingAfterMs: 100,
    completeAfterMs: 300,
    resultUrlTtlMs: 10_000,
  });
  let base = '';
  let original = '';
  let background = '';
  let overlay = '';
  before(async () => {
    base = await sim.start();
    original = await uploadKey(base, TOKEN_A, 'original', ORIGINAL_PNG);
    background = await uploadKey(base, TOKEN_A, 'background', BACKGROUND_PNG);
    overlay = await uploadKey(base, TOKEN_A, 'overlay', OVERLAY_PNG, 'image/png');
  });
  after(() => sim.stop());

  it('moves a bg-replace task new → processing → complete, answering status by POST', async () => {
    const task = await createdTask(
      await postJson(base, '/api/image/task/bg-replace', TOKEN_A, {
        reference: 'IV-Test-Ref-1',
        original,
        background,
        overlay,
        options: { shadow: false },
        meta: { VIN: 'VIN123', Title: 'Front 3/4' },
      }),
    );
    const first = await status(base, TOKEN_A, task);
    assert.equal(first.status, 200);
    assert.deepEqual(first.body, {
      success: true,
      code: 0,
      locale: 'en',
      message: 'OK',
      data: {
        reference: 'IV-Test-Ref-1',
        status: 'new',
        task,
        task_type: 'Background Replace',
        options: { shadow: false },
        meta: { VIN: 'VIN123', Title: 'Front 3/4' },
        callback_url: null,
        result: null,
      },
    });
    await sim.advance(100);
    const second = await status(base, TOKEN_A, task, '/api/v1');
    assert.equal(second.body.data.status, 'processing');
    assert.equal(second.body.data.result, null);
    await sim.advance(199);
    assert.equal((await status(base, TOKEN_A, task)).body.data.status, 'processing');
    await sim.advance(1);
    const done = await status(base, TOKEN_A, task);
    assert.equal(done.body.data.status, 'complete');
    const result = done.body.data.result as { url: string };
    assert.deepEqual(Object.keys(result), ['url']);
    const escaped = base.replace(/[.:/]/g, '\\$&');
    assert.match(
      result.url,
      new RegExp(`^${escaped}/results/${task}\\.png\\?expires=\\d+&signature=[0-9a-f]{64}$`),
    );
    assert.deepEqual(
      sim.getTask(task)?.history.map((h) => h.status),
      ['new', 'processing', 'complete'],
    );

    // The result is a real PNG: background pixels show through, the subject and the overlay are kept.
    const fetched = await fetchBytes(result.url);
    assert.equal(fetched.status, 200);
    assert.equal(fetched.type, 'image/png');
    const img = decodePng(fetched.bytes);
    assert.deepEqual([img.width, img.height], [W, H]);
    let checked = 0;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const expected = isGreen(x, y)
          ? GREEN
          : isRed(x, y)
            ? RED
            : bgPixel(Math.floor(x / 2), Math.floor(y / 2));
        assert.deepEqual(img.at(x, y), expected, `pixel ${x},${y}`);
        checked++;
      }
    }
    assert.equal(checked, W * H);
  });

  it('draws a shadow under the subject when options.shadow is true', async () => {
    const task = await createdTask(
      await postJson(base, '/api/image/task/bg-replace', TOKEN_A, {
        reference: 'shadow-1',
        original,
        background,
        overlay: null,
        options: { shadow: true },
      }),
    );
    await sim.settle();
    const done = await status(base, TOKEN_A, task);
    assert.equal(done.body.data.status, 'complete');
    const img = decodePng((await fetchBytes((done.body.data.result as { url: string }).url)).bytes);
    const under = bgPixel(15, 11); // pixel (30,22) is just below-right of the subject's corner (29,21)
    assert.deepEqual(img.at(30, 22), [0, Math.round(under[1] * 0.5), Math.round(under[2] * 0.5), 255]);
    assert.deepEqual(img.at(5, 5), bgPixel(2, 2));
    assert.deepEqual(img.at(20, 15), RED);
    assert.deepEqual(img.at(35, 2), bgPixel(17, 1), 'no overlay was given');
  });

  it('produces a JPEG for a JPEG original: the new background replaces the white one', async () => {
    const jw = 64;
    const jh = 48;
    const subject = (x: number, y: number) => x >= 16 && x < 48 && y >= 12 && y < 36;
    const origJpeg = makeJpeg(jw, jh, (x, y) => (subject(x, y) ? [180, 20, 20, 255] : [255, 255, 255, 255]));
    const bgJpeg = makeJpeg(32, 24, () => [20, 160, 40, 255]);
    const o = await uploadKey(base, TOKEN_A, 'original', origJpeg, 'image/jpeg');
    const b = await uploadKey(base, TOKEN_A, 'background', bgJpeg, 'image/jpeg');
    const task = await createdTask(
      await postJson(base, '/api/image/task/bg-replace', TOKEN_A, {
        reference: 'jpeg-1',
        original: o,
        background: b,
        overlay: null,
      }),
    );
    await sim.advance(300);
    const done = await status(base, TOKEN_A, task);
    const url = (done.body.data.result as { url: string }).url;
    assert.match(url, new RegExp(`/results/${task}\\.jpg\\?`));
    const fetched = await fetchBytes(url);
    assert.equal(fetched.type, 'image/jpeg');
    assert.deepEqual([...fetched.bytes.subarray(0, 3)], [0xff, 0xd8, 0xff]);
    const img = decodeJpeg(fetched.bytes);
    assert.deepEqual([img.width, img.height], [jw, jh]);
    for (const [x, y] of [
      [2, 2],
      [61, 45],
      [5, 40],
      [60, 4],
    ] as const) {
      near(img.at(x, y), [20, 160, 40], 25, `background at ${x},${y}`);
    }
    near(img.at(32, 24), [180, 20, 20], 25, 'subject');
  });

  it('anonymises the plate rectangle of an LPA task and leaves every other pixel alone (PNG)', async () => {
    const lw = 60;
    const lh = 40;
    const checker = makePng(lw, lh, (x, y) => ((x + y) % 2 ? [255, 255, 255, 255] : [0, 0, 0, 255]));
    const key = await uploadKey(base, TOKEN_A, 'original', checker);
    const task = await createdTask(
      await postJson(base, '/api/v1/image/task/lpa', TOKEN_A, {
        reference: 'LPA-Test-Ref-1',
        original: key,
        options: {},
        meta: { VIN: 'VIN123' },
      }),
    );
    const fresh = await status(base, TOKEN_A, task);
    assert.equal(fresh.body.data.task_type, 'License Plate Anonymization');
    assert.deepEqual(fresh.body.data.options, {});
    await sim.settle();
    const done = await status(base, TOKEN_A, task);
    assert.equal(done.body.data.status, 'complete');
    const fetched = await fetchBytes((done.body.data.result as { url: string }).url);
    assert.equal(fetched.type, 'image/png');
    const img = decodePng(fetched.bytes);
    const rect = lpaRect(lw, lh);
    assert.deepEqual(rect, { x: 18, y: 28, width: 24, height: 6 });
    const inside = (x: number, y: number) =>
      x >= rect.x && x < rect.x + rect.width && y >= rect.y && y < rect.y + rect.height;
    let changed = 0;
    for (let y = 0; y < lh; y++) {
      for (let x = 0; x < lw; x++) {
        const orig: Px = (x + y) % 2 ? [255, 255, 255, 255] : [0, 0, 0, 255];
        if (inside(x, y)) {
          assert.deepEqual(img.at(x, y), [128, 128, 128, 255], `inside ${x},${y}`);
          changed++;
        } else {
          assert.deepEqual(img.at(x, y), orig, `outside ${x},${y}`);
        }
      }
    }
    assert.equal(changed, 24 * 6);
  });

  it('anonymises the plate rectangle of a JPEG and keeps the rest close to the original', async () => {
    const jw = 64;
    const jh = 48;
    const stripes = makeJpeg(jw, jh, (x) => (x % 2 ? [230, 230, 230, 255] : [20, 20, 20, 255]));
    const key = await uploadKey(base, TOKEN_A, 'original', stripes, 'image/jpeg');
    const task = await createdTask(
      await postJson(base, '/api/image/task/lpa', TOKEN_A, { reference: 'lpa-jpeg', original: key }),
    );
    await sim.settle();
    const done = await status(base, TOKEN_A, task);
    const fetched = await fetchBytes((done.body.data.result as { url: string }).url);
    assert.equal(fetched.type, 'image/jpeg');
    const before = decodeJpeg(stripes);
    const afterImg = decodeJpeg(fetched.bytes);
    const rect = lpaRect(jw, jh);
    const contrast = (img: Decoded) => {
      let sum = 0;
      let n = 0;
      for (let y = rect.y; y < rect.y + rect.height; y++) {
        for (let x = rect.x; x < rect.x + rect.width - 1; x++) {
          sum += Math.abs(img.at(x + 1, y)[1] - img.at(x, y)[1]);
          n++;
        }
      }
      return sum / n;
    };
    assert.ok(contrast(before) > 150, `original stripes are sharp (${contrast(before)})`);
    assert.ok(contrast(afterImg) < 40, `plate area is pixelated (${contrast(afterImg)})`);
    let diff = 0;
    let n = 0;
    for (let y = 0; y < 16; y++) {
      for (let x = 0; x < jw; x++) {
        diff += Math.abs(afterImg.at(x, y)[1] - before.at(x, y)[1]);
        n++;
      }
    }
    assert.ok(diff / n < 15, `rows far from the plate are unchanged (${diff / n})`);
  });

  it('fails a task on meta.simulate_failure, with the reason in message and data.messages', async () => {
    const task = await createdTask(
      await postJson(base, '/api/image/task/bg-replace', TOKEN_A, {
        reference: 'forced-fail',
        original,
        background,
        overlay: null,
        meta: { simulate_failure: true },
      }),
    );
    await sim.advance(100);
    assert.equal((await status(base, TOKEN_A, task)).body.data.status, 'processing');
    await sim.advance(200);
    const failed = await status(base, TOKEN_A, task);
    assert.equal(failed.status, 200);
    const reason = 'Background replacement failed: the subject could not be separated from the background.';
    assert.deepEqual(failed.body, {
      success: true,
      code: 0,
      locale: 'en',
      message: `Task failed: ${reason}`,
      data: {
        reference: 'forced-fail',
        status: 'failed',
        task,
        task_type: 'Background Replace',
        options: {},
        meta: { simulate_failure: true },
        callback_url: null,
        result: null,
        messages: [reason],
      },
    });
    const custom = await createdTask(
      await postJson(base, '/api/image/task/lpa', TOKEN_A, {
        reference: 'forced-fail-2',
        original,
        meta: { simulate_failure: 'plate detector offline' },
      }),
    );
    await sim.settle();
    const second = await status(base, TOKEN_A, custom);
    assert.equal(second.body.data.status, 'failed');
    assert.deepEqual(second.body.data.messages, ['plate detector offline']);
    assert.deepEqual(
      sim.getTask(custom)?.history.map((h) => h.status),
      ['new', 'processing', 'failed'],
    );
  });

  it('guards result URLs: no auth needed, but a bad signature, a wrong type or an expired URL is refused', async () => {
    const task = await createdTask(
      await postJson(base, '/api/image/task/lpa', TOKEN_A, { reference: 'signed-url', original }),
    );
    await sim.settle();
    const url = ((await status(base, TOKEN_A, task)).body.data.result as { url: string }).url;
    assert.equal((await fetchBytes(url)).status, 200);
    const tampered = url.replace(
      /signature=([0-9a-f])/,
      (_m, c: string) => `signature=${c === 'a' ? 'b' : 'a'}`,
    );
    assert.equal((await fetchBytes(tampered)).status, 403);
    assert.equal((await fetchBytes(url.split('?')[0] as string)).status, 403);
    assert.equal((await fetchBytes(url.replace('.png?', '.jpg?'))).status, 404);
    assert.equal((await fetchBytes(`${base}/results/ZZZZZZZZZZ.png`)).status, 404);
    await sim.advance(10_000);
    const expired = await answer(await request(url));
    assert.equal(expired.status, 403);
    assert.deepEqual(expired.body.data.messages, ['The URL has expired.']);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('InstaVid360 simulator: failure rate and real timers', () => {
  it('fails a seeded share of tasks, the same ones for the same seed', async () => {
    const pattern = async (seed: number): Promise<string[]> => {
      const sim = new InstaVid360Simulator({
        tokens: TOKENS,
        clock: 'manual',
        seed,
        failureRate: 0.5,
        requestsPerMinute: Infinity,
      });
      try {
        const base = await sim.start();
        const original = await uploadKey(base, TOKEN_A, 'original', ORIGINAL_PNG);
        const tasks: string[] = [];
        for (let i = 0; i < 12; i++) {
          tasks.push(
            await createdTask(
              await postJson(base, '/api/image/task/lpa', TOKEN_A, { reference: `rate-${i}`, original }),
            ),
          );
        }
        await sim.settle();
        const out: string[] = [];
        for (const t of tasks) out.push((await status(base, TOKEN_A, t)).body.data.status as string);
        return out;
      } finally {
        await sim.stop();
      }
    };
    const a = await pattern(11);
    const b = await pattern(11);
    assert.deepEqual(a, b);
    const failed = a.filter((s) => s === 'failed').length;
    assert.ok(failed > 0 && failed < 12, `some but not all fail (${a.join(',')})`);
    assert.ok(a.every((s) => s === 'failed' || s === 'complete'));
  });

  it('progresses on real timers, and stop() clears pending ones', async () => {
    const sim = new InstaVid360Simulator({
      tokens: TOKENS,
      processingAfterMs: 1,
      completeAfterMs: 5,
      requestsPerMinute: Infinity,
    });
    try {
      const base = await sim.start();
      const original = await uploadKey(base, TOKEN_A, 'original', ORIGINAL_PNG);
      const task = await createdTask(
        await postJson(base, '/api/image/task/lpa', TOKEN_A, { reference: 'real-1', original }),
      );
      let last = '';
      for (let i = 0; i < 500 && last !== 'complete'; i++) {
        last = (await status(base, TOKEN_A, task)).body.data.status as string;
        if (last !== 'complete') await sleep(10);
      }
      assert.equal(last, 'complete');
    } finally {
      await sim.stop();
    }

    const slow = new InstaVid360Simulator({ tokens: TOKENS, completeAfterMs: 3_600_000 });
    const base = await slow.start();
    const original = await uploadKey(base, TOKEN_A, 'original', ORIGINAL_PNG);
    const task = await createdTask(
      await postJson(base, '/api/image/task/lpa', TOKEN_A, { reference: 'slow-1', original }),
    );
    await slow.stop(); // must not leave the hour-long timer behind
    assert.equal(slow.getTask(task)?.status, 'new');
    await slow.settle(); // finishing still works without the server
    assert.equal(slow.getTask(task)?.status, 'complete');
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('InstaVid360 simulator: callbacks', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  before(async () => {
    receiver = await startReceiver();
  });
  after(() => receiver.close());

  async function setup(options: ConstructorParameters<typeof InstaVid360Simulator>[0] = {}) {
    const sim = new InstaVid360Simulator({
      tokens: TOKENS,
      clock: 'manual',
      requestsPerMinute: Infinity,
      ...options,
    });
    const base = await sim.start();
    const original = await uploadKey(base, TOKEN_A, 'original', ORIGINAL_PNG);
    const background = await uploadKey(base, TOKEN_A, 'background', BACKGROUND_PNG);
    return { sim, base, original, background };
  }

  it('POSTs the status envelope to a loopback callback_url once the task ends', async () => {
    const { sim, base, original, background } = await setup();
    try {
      receiver.received.length = 0;
      const callbackUrl = `${receiver.url}/hooks/instavid?token=relay-secret-1`;
      const task = await createdTask(
        await postJson(base, '/api/image/task/bg-replace', TOKEN_A, {
          reference: 'cb-1',
          original,
          background,
          overlay: null,
          callback_url: callbackUrl,
        }),
      );
      await sim.advance(200);
      assert.equal(receiver.received.length, 0, 'nothing before the task ends');
      await sim.settle();
      assert.equal(receiver.received.length, 1);
      const got = receiver.received[0]!;
      assert.equal(got.path, '/hooks/instavid?token=relay-secret-1');
      assert.equal(got.headers['content-type'], 'application/json');
      const current = await status(base, TOKEN_A, task);
      assert.deepEqual(got.body, current.body);
      assert.equal((got.body as Envelope).data.status, 'complete');
      assert.equal((got.body as Envelope).data.callback_url, callbackUrl);
      const attempts = sim.getTask(task)?.callbacks ?? [];
      assert.equal(attempts.length, 1);
      assert.equal(attempts[0]?.url, callbackUrl);
      assert.equal(attempts[0]?.statusCode, 200);
      assert.equal(attempts[0]?.duplicate, false);
      assert.equal(sim.getTask(task)?.callbackSkipped, undefined);
    } finally {
      await sim.stop();
    }
  });

  it('sends the failed envelope for a failed task and records non-2xx answers and unreachable receivers', async () => {
    const { sim, base, original } = await setup();
    const failing = await startReceiver(500);
    const closed = await startReceiver();
    await closed.close();
    try {
      receiver.received.length = 0;
      const failedTask = await createdTask(
        await postJson(base, '/api/image/task/lpa', TOKEN_A, {
          reference: 'cb-failed',
          original,
          meta: { simulate_failure: true },
          callback_url: `${receiver.url}/cb`,
        }),
      );
      const five = await createdTask(
        await postJson(base, '/api/image/task/lpa', TOKEN_A, {
          reference: 'cb-500',
          original,
          callback_url: `${failing.url}/cb`,
        }),
      );
      const down = await createdTask(
        await postJson(base, '/api/image/task/lpa', TOKEN_A, {
          reference: 'cb-down',
          original,
          callback_url: `${closed.url}/cb`,
        }),
      );
      await sim.settle();
      assert.equal(receiver.received.length, 1);
      const body = receiver.received[0]?.body as Envelope;
      assert.equal(body.data.status, 'failed');
      assert.equal(body.data.result, null);
      assert.equal(
        body.message,
        'Task failed: Licence plate anonymisation failed: the image could not be processed.',
      );
      assert.equal(sim.getTask(failedTask)?.callbacks[0]?.statusCode, 200);
      assert.equal(failing.received.length, 1, 'no retries after a 500');
      assert.equal(sim.getTask(five)?.callbacks.length, 1);
      assert.equal(sim.getTask(five)?.callbacks[0]?.statusCode, 500);
      const downAttempt = sim.getTask(down)?.callbacks[0];
      assert.equal(downAttempt?.statusCode, undefined);
      assert.match(String(downAttempt?.error), /ECONNREFUSED|connect/i);
    } finally {
      await failing.close();
      await sim.stop();
    }
  });

  it('never sends a callback to a non-loopback host, and records why', async () => {
    const { sim, base, original } = await setup();
    try {
      const tasks: string[] = [];
      for (const [i, url] of [
        'http://example.com/cb',
        'http://10.0.0.8:8080/cb',
        'https://127.0.0.1.nip.io/cb',
      ].entries()) {
        tasks.push(
          await createdTask(
            await postJson(base, '/api/image/task/lpa', TOKEN_A, {
              reference: `remote-${i}`,
              original,
              callback_url: url,
            }),
          ),
        );
      }
      await sim.settle();
      for (const t of tasks) {
        const rec = sim.getTask(t);
        assert.equal(rec?.status, 'complete');
        assert.equal(rec?.callbackSkipped, 'non-loopback');
        assert.deepEqual(rec?.callbacks, []);
      }
    } finally {
      await sim.stop();
    }
  });

  it('loses and duplicates callbacks deterministically by seed', async () => {
    const run = async (seed: number) => {
      const counter = await startReceiver();
      const { sim, base, original } = await setup({
        seed,
        callback: { lossRate: 0.3, duplicateRate: 0.3, delayMs: [0, 3] },
      });
      try {
        const tasks: string[] = [];
        for (let i = 0; i < 20; i++) {
          tasks.push(
            await createdTask(
              await postJson(base, '/api/image/task/lpa', TOKEN_A, {
                reference: `knob-${i}`,
                original,
                callback_url: `${counter.url}/cb/${i}`,
              }),
            ),
          );
        }
        await sim.settle();
        const plans = tasks.map((t) => sim.getTask(t)!);
        const lost = plans.filter((p) => p.callbackSkipped === 'lost').length;
        const duplicated = plans.filter((p) => p.plan.callback.duplicate && !p.plan.callback.lost).length;
        const expected = plans.reduce(
          (n, p) => n + (p.plan.callback.lost ? 0 : p.plan.callback.duplicate ? 2 : 1),
          0,
        );
        assert.equal(counter.received.length, expected);
        assert.equal(
          plans.reduce((n, p) => n + p.callbacks.length, 0),
          expected,
        );
        assert.ok(plans.every((p) => p.callbacks.every((c) => c.statusCode === 200)));
        for (const [i, p] of plans.entries()) {
          const hits = counter.received.filter((r) => r.path === `/cb/${i}`).length;
          assert.equal(hits, p.plan.callback.lost ? 0 : p.plan.callback.duplicate ? 2 : 1, `task ${i}`);
        }
        return {
          lost,
          duplicated,
          received: counter.received.length,
          pattern: plans.map((p) => p.plan.callback),
        };
      } finally {
        await sim.stop();
        await counter.close();
      }
    };
    const a = await run(5);
    const b = await run(5);
    assert.deepEqual(a, b);
    assert.ok(a.lost > 0 && a.lost < 20, `some lost (${a.lost})`);
    assert.ok(a.duplicated > 0 && a.duplicated < 20, `some duplicated (${a.duplicated})`);
    assert.equal(a.received, 20 - a.lost + a.duplicated);
    const c = await run(6);
    assert.notDeepEqual(c.pattern, a.pattern);
  });

  it('loses every callback at lossRate 1 and doubles every one at duplicateRate 1', async () => {
    for (const [knobs, perTask] of [
      [{ lossRate: 1 }, 0],
      [{ duplicateRate: 1 }, 2],
    ] as const) {
      const counter = await startReceiver();
      const { sim, base, original } = await setup({ callback: knobs });
      try {
        for (let i = 0; i < 3; i++) {
          await createdTask(
            await postJson(base, '/api/image/task/lpa', TOKEN_A, {
              reference: `all-${i}`,
              original,
              callback_url: `${counter.url}/cb`,
            }),
          );
        }
        await sim.settle();
        assert.equal(counter.received.length, 3 * perTask);
      } finally {
        await sim.stop();
        await counter.close();
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('InstaVid360 simulator: rate limit, quota and fault injection', () => {
  it('answers 429 past the per-minute request limit, per user, until the window passes', async () => {
    const sim = new InstaVid360Simulator({
      tokens: TOKENS,
      clock: 'manual',
      requestsPerMinute: 3,
      rateWindowMs: 1_000,
    });
    try {
      const base = await sim.start();
      const codes: number[] = [];
      for (let i = 0; i < 4; i++) codes.push((await status(base, TOKEN_A, 'NOSUCHTASK')).status);
      assert.deepEqual(codes, [404, 404, 404, 429]);
      const limited = await status(base, TOKEN_A2, 'NOSUCHTASK'); // same user, other token
      assert.equal(limited.status, 429);
      assert.equal(limited.headers['retry-after'], '1');
      assert.deepEqual(limited.body, {
        success: false,
        code: 429,
        locale: 'en',
        message: 'Too Many Attempts.',
        data: { messages: ['Rate limit of 3 requests per minute exceeded.'] },
      });
      assert.equal((await status(base, TOKEN_B, 'NOSUCHTASK')).status, 404, 'bob has his own window');
      await sim.advance(1_000);
      assert.equal((await status(base, TOKEN_A, 'NOSUCHTASK')).status, 404);
    } finally {
      await sim.stop();
    }
  });

  it('refuses task requests with 429 once the monthly quota of that type is used, until reset', async () => {
    const sim = new InstaVid360Simulator({
      tokens: TOKENS,
      clock: 'manual',
      requestsPerMinute: Infinity,
      quota: { bgReplace: 2, lpa: 1 },
    });
    try {
      const base = await sim.start();
      const original = await uploadKey(base, TOKEN_A, 'original', ORIGINAL_PNG);
      const background = await uploadKey(base, TOKEN_A, 'background', BACKGROUND_PNG);
      const bg = (reference: string) =>
        postJson(base, '/api/image/task/bg-replace', TOKEN_A, {
          reference,
          original,
          background,
          overlay: null,
        });
      assert.equal((await bg('')).status, 422, 'an invalid request uses no credit');
      await createdTask(await bg('q-1'));
      await createdTask(await bg('q-2'));
      const refused = await bg('q-3');
      assert.equal(refused.status, 429);
      assert.deepEqual(refused.body, {
        success: false,
        code: 429,
        locale: 'en',
        message: 'Monthly quota exhausted.',
        data: { messages: ['The monthly quota of 2 Background Replace tasks has been used.'] },
      });
      assert.ok(Number(refused.headers['retry-after']) > 0);
      await createdTask(
        await postJson(base, '/api/image/task/lpa', TOKEN_A, { reference: 'q-lpa-1', original }),
      );
      const lpaRefused = await postJson(base, '/api/image/task/lpa', TOKEN_A, {
        reference: 'q-lpa-2',
        original,
      });
      assert.equal(lpaRefused.status, 429);
      assert.deepEqual(lpaRefused.body.data.messages, [
        'The monthly quota of 1 License Plate Anonymization tasks has been used.',
      ]);
      assert.deepEqual(sim.quotaUsed('alice'), { bgReplace: 2, lpa: 1 });
      assert.equal(sim.listTasks().length, 3);

      sim.resetQuota('alice', 'bgReplace');
      await createdTask(await bg('q-3'));
      assert.equal(
        (await postJson(base, '/api/image/task/lpa', TOKEN_A, { reference: 'q-lpa-2', original })).status,
        429,
      );
      await sim.advance(32 * 24 * 60 * 60 * 1000); // next month: fresh credits
      await createdTask(
        await postJson(base, '/api/image/task/lpa', TOKEN_A, { reference: 'q-lpa-2', original }),
      );
      assert.deepEqual(sim.quotaUsed('alice'), { bgReplace: 0, lpa: 1 });
    } finally {
      await sim.stop();
    }
  });

  it('plays injected faults on named routes without touching state', async () => {
    const sim = new InstaVid360Simulator({ tokens: TOKENS, clock: 'manual', requestsPerMinute: Infinity });
    try {
      const base = await sim.start();
      const original = await uploadKey(base, TOKEN_A, 'original', ORIGINAL_PNG);
      const task = await createdTask(
        await postJson(base, '/api/image/task/lpa', TOKEN_A, { reference: 'fault-1', original }),
      );

      sim.faults.enqueue({ route: 'taskStatus', status: 503, times: 2, headers: { 'retry-after': '1' } });
      const codes: number[] = [];
      for (let i = 0; i < 3; i++) {
        const res = await request(`${base}/api/image/task/${task}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN_A}` },
        });
        codes.push(res.statusCode);
        await res.body.dump();
      }
      assert.deepEqual(codes, [503, 503, 200]);

      sim.faults.enqueue({ route: 'upload', reset: true });
      const before = sim.listUploads().length;
      await assert.rejects(upload(base, TOKEN_A, 'original', ORIGINAL_PNG, { type: 'image/png' }));
      assert.equal(sim.listUploads().length, before);

      const put = await request(`${base}/__sim/faults`, {
        method: 'PUT',
        body: JSON.stringify({ rules: [{ routes: ['lpa'], statusRates: { 500: 1 } }] }),
      });
      assert.equal(put.statusCode, 200);
      await put.body.dump();
      const injected = await request(`${base}/api/image/task/lpa`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN_A}`, 'content-type': 'application/json' },
        body: JSON.stringify({ reference: 'fault-2', original }),
      });
      assert.equal(injected.statusCode, 500);
      await injected.body.dump();
      assert.equal(sim.listTasks().length, 1);
      assert.deepEqual(sim.quotaUsed('alice'), { bgReplace: 0, lpa: 1 });

      sim.reset();
      assert.equal(sim.listTasks().length, 0);
      assert.equal(sim.listUploads().length, 0);
      assert.equal(
        (await postJson(base, '/api/image/task/lpa', TOKEN_A, { reference: 'x', original })).status,
        422,
      );
    } finally {
      await sim.stop();
    }
  });
});
