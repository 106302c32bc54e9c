import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfigFile, validateConfig } from '#domain/config/index.ts';
import { makeJpeg, makePng } from '#simulators/media/index.ts';
import { VENDORS } from '../registry.ts';
import type { JsonObject, PendingDelivery } from '../types.ts';
import { refusal, resultUrl } from './api.ts';
import { INSTAVID360_ASSUMPTIONS, taskState } from './assumptions.ts';
import { inlineConfigFiles, sha256 } from './images.ts';
import { instavid360, taskHint } from './index.ts';
import { resultKey, resultMetadata } from './results.ts';
import { ivConfig } from './testing.ts';

const destination = { name: 'iv', vendor: 'instavid360', baseUrl: 'http://127.0.0.1:1', options: {} };
const check = async (key: string, file: Buffer, size = file.length) =>
  instavid360.preflight?.check({
    object: { bucket: 'b', key, etag: 'e', size },
    head: file.subarray(0, instavid360.preflight.headBytes),
    reader: { size, read: async (s, e) => file.subarray(s, e) },
    fields: {},
    destination,
  });
const answer = (status: number, body: unknown = '', headers: Record<string, string> = {}) =>
  ({
    kind: 'answer',
    status,
    text: typeof body === 'string' ? body : JSON.stringify(body),
    headers,
  }) as const;
const fail = (message: string, messages: string[]) => ({
  success: false,
  code: 0,
  locale: 'en',
  message,
  data: { messages },
});

describe('InstaVid360 pre-flight (JPEG/PNG by content, ≤ 2 MB)', () => {
  it('passes JPEG and PNG whatever the name says', async () => {
    assert.equal(await check('a/b.jpg', makeJpeg()), undefined);
    assert.equal(await check('a/b.png', makePng()), undefined);
    assert.equal(await check('a/b.jpg', makePng()), undefined, 'the content decides, not the name');
  });
  it('refuses other content, empty files and files over 2,000,000 bytes', async () => {
    assert.equal((await check('a/b.jpg', Buffer.from('GIF89a......')))?.code, 'UNSUPPORTED_FORMAT');
    assert.equal((await check('a/b.jpg', Buffer.alloc(0)))?.code, 'EMPTY_FILE');
    assert.equal((await check('a/b.jpg', makeJpeg(), 2_000_001))?.code, 'FILE_TOO_LARGE');
    assert.equal(await check('a/b.jpg', makeJpeg(), 2_000_000), undefined);
    assert.equal(INSTAVID360_ASSUMPTIONS.maxUploadBytes, 2_000_000);
  });
});

describe('InstaVid360 answers', () => {
  const probe = 15 * 60_000;
  it('monthly quota (429 or 403 naming a quota, or a month-long Retry-After): hold, probe at most every quota_probe', () => {
    const q = refusal(
      answer(429, fail('Monthly quota exhausted.', ['used']), { 'retry-after': '864000' }),
      probe,
      0,
    );
    assert.ok(q?.kind === 'hold' && q.error.code === 'QUOTA_EXHAUSTED' && q.probeAfterMs === probe);
    const soon = refusal(answer(403, fail('Quota exceeded', []), { 'retry-after': '60' }), probe, 0);
    assert.ok(soon?.kind === 'hold' && soon.probeAfterMs === 60_000, 'sooner when the vendor says so');
    const silent = refusal(answer(429, fail('Too Many Attempts.', []), { 'retry-after': '86400' }), probe, 0);
    assert.equal(silent?.kind, 'hold');
  });
  it('per-minute 429 and 5xx: retry (Retry-After honoured); 401/403: hold; 422: the reasons', () => {
    const r = refusal(answer(429, fail('Too Many Attempts.', []), { 'retry-after': '12' }), probe, 0);
    assert.ok(r?.kind === 'retry' && r.error.code === 'RATE_LIMITED' && r.retryAfterMs === 12_000);
    assert.equal(refusal(answer(503, 'busy'), probe, 0)?.kind, 'retry');
    assert.equal(refusal(answer(401, fail('Unauthenticated.', [])), probe, 0)?.kind, 'hold');
    assert.equal(refusal(answer(403, fail('Forbidden.', [])), probe, 0)?.kind, 'hold');
    const v = refusal(answer(422, fail('The given data was invalid.', ['a', 'b'])), probe, 0);
    assert.ok(v?.kind === 'invalid');
    assert.deepEqual(v.messages, ['a', 'b']);
    assert.equal(v.error.message, 'InstaVid360 refused the request: a b');
    assert.equal(refusal(answer(200, '{}'), probe, 0), undefined);
  });
  it('a 2xx with success: false is a refusal with the reasons, or the quota when they name one', () => {
    assert.equal(INSTAVID360_ASSUMPTIONS.successFalseIsFailure, true);
    const v = refusal(answer(200, fail('Upload failed', ['The image is corrupt.'])), probe, 0, 'upload');
    assert.ok(v?.kind === 'invalid', JSON.stringify(v));
    assert.deepEqual(v.messages, ['The image is corrupt.']);
    assert.equal(v.error.code, 'VENDOR_REFUSED');
    assert.equal(v.error.httpStatus, 200);
    assert.match(v.error.message, /success: false: The image is corrupt\./);
    const q = refusal(answer(200, fail('Failed', ['Your monthly quota is exhausted.'])), probe, 0, 'task');
    assert.ok(q?.kind === 'hold' && q.error.code === 'QUOTA_EXHAUSTED' && q.probeAfterMs === probe);
    assert.equal(refusal(answer(201, { success: true, data: { task: 'x' } }), probe, 0), undefined);
  });
  it('404/405 on an upload or a task creation holds (base_url or api_path is wrong); on the status call it does not', () => {
    assert.equal(INSTAVID360_ASSUMPTIONS.notFoundHolds, true);
    for (const status of [404, 405])
      for (const call of ['upload', 'task'] as const) {
        const h = refusal(answer(status, 'Not Found'), probe, 0, call);
        assert.ok(h?.kind === 'hold' && h.error.code === 'ENDPOINT_NOT_FOUND', `${status} ${call}`);
        assert.match(h.error.message, /base_url and api_path/);
      }
    assert.equal(refusal(answer(404, fail('Task not found.', [])), probe, 0, 'status')?.kind, 'other');
  });
  it('statuses: §4.2 aliases are final, anything else is still pending', () => {
    for (const s of ['complete', 'Completed', 'done', 'SUCCESS']) assert.equal(taskState(s), 'complete');
    for (const s of ['failed', 'error']) assert.equal(taskState(s), 'failed');
    for (const s of ['new', 'processing', 'queued', '', 42, null]) assert.equal(taskState(s), 'pending');
  });
  it('the result URL: `url`, else the first http(s) string anywhere in `result`', () => {
    assert.equal(resultUrl({ url: 'https://cdn.example/r.jpg' }), 'https://cdn.example/r.jpg');
    assert.equal(resultUrl('http://x.example/a.png'), 'http://x.example/a.png');
    assert.equal(
      resultUrl({ files: [{ name: 'a', href: 'https://x.example/1.jpg' }] }),
      'https://x.example/1.jpg',
    );
    assert.equal(resultUrl({ url: 'ftp://nope' }), undefined);
    assert.equal(resultUrl(null), undefined);
  });
  it("a callback's task key is read from data.task (only a hint)", () => {
    assert.equal(taskHint({ data: { task: 'yKwRfVtDmp' } }), 'yKwRfVtDmp');
    assert.equal(taskHint({ task: 'abc' }), 'abc');
    assert.equal(taskHint({ data: { task: '../../etc' } }), undefined);
    assert.equal(taskHint(null), undefined);
    assert.equal(taskHint(['x']), undefined);
  });
});

describe('InstaVid360 results: key and metadata', () => {
  const item: PendingDelivery = {
    deliveryId: 'ZGVsaXZlcnk',
    destination: 'studio',
    status: 'PROCESSING',
    vendorRef: 't',
    object: { bucket: 'ingest', key: 'line-1/photo é/SN1_x.jpeg', etag: 'e1', size: 1, versionId: 'v1' },
    fields: {},
    acceptedAt: '',
    pollCount: 0,
  };
  it('default: <destination>/<source key without extension>.<result extension>', () => {
    assert.equal(resultKey(item, 'jpg'), 'studio/line-1/photo é/SN1_x.jpg');
    assert.equal(
      resultKey({ ...item, object: { ...item.object, key: 'a/noext' } }, 'png'),
      'studio/a/noext.png',
    );
    assert.equal(resultKey({ ...item, object: { ...item.object, key: 'a.b/c' } }, 'png'), 'studio/a.b/c.png');
  });
  it('result_key (rendered by the router): its own extension is replaced by the result', () => {
    assert.equal(resultKey({ ...item, fields: { result_key: '/VIN1/front.jpg' } }, 'png'), 'VIN1/front.png');
  });
  it('metadata links the source version, the task and the delivery, ASCII only, ≤ 2 KB', () => {
    assert.deepEqual(resultMetadata(item, 'T1', 'ref'), {
      'source-bucket': 'ingest',
      'source-key': 'line-1%2Fphoto%20%C3%A9%2FSN1_x.jpeg',
      'source-version-id': 'v1',
      'source-etag': 'e1',
      'instavid360-task': 'T1',
      'instavid360-reference': 'ref',
      'relay-destination': 'studio',
      'relay-delivery': 'ZGVsaXZlcnk',
    });
    const long = resultMetadata(
      { ...item, deliveryId: 'd'.repeat(600), object: { ...item.object, key: 'é'.repeat(400) } },
      'T1',
      'r'.repeat(600),
    );
    const size = Object.entries(long).reduce((n, [k, v]) => n + k.length + v.length, 0);
    assert.ok(size <= 2048, String(size));
    assert.equal(long['source-key-truncated'], 'true');
  });
});

const config = (options: JsonObject) =>
  ivConfig(options, { meta: { VIN: '{serial}' }, result_key: 'studio/{serial}' });
const errors = (options: JsonObject) =>
  validateConfig(config(options), VENDORS).violations.filter((v) => v.level === 'error');

describe('InstaVid360 options (validated with the config)', () => {
  it('takes bg-replace with a background (S3 or a shipped file) and lpa alone', () => {
    assert.deepEqual(
      errors({ task: 'bg-replace', background: { s3: 's3://brand-assets/bg/studio.jpg' } }),
      [],
    );
    assert.deepEqual(
      errors({
        task: 'bg-replace',
        background: { file: 'assets/bg.jpg' },
        overlay: { s3: 's3://brand-assets/logo.png', version_id: '3' },
        shadow: true,
        api_path: '/api',
        callbacks: false,
        task_deadline_seconds: 900,
        quota_probe_seconds: 3600,
        callback_grace_seconds: 0,
      }),
      [],
    );
    assert.deepEqual(errors({ task: 'lpa' }), []);
  });
  it('refuses bg-replace without a background, lpa with one, unknown options and paths', () => {
    assert.match(JSON.stringify(errors({ task: 'bg-replace' })), /background/);
    assert.ok(errors({ task: 'lpa', background: { s3: 's3://b-b/k' } }).length > 0);
    assert.ok(errors({ task: 'lpa', shadows: true }).length > 0);
    assert.ok(errors({ task: 'lpa', api_path: '/v2' }).length > 0);
    assert.ok(errors({ task: 'bg-replace', background: { s3: 'https://x/y.jpg' } }).length > 0);
    assert.ok(errors({}).length > 0);
  });
});

describe('files shipped with the config are inlined when it is loaded', () => {
  const dir = mkdtempSync(join(tmpdir(), 'iv-config-'));
  const bg = makeJpeg({ width: 16, height: 16, seed: 3 });
  writeFileSync(join(dir, 'bg.jpg'), bg);
  writeFileSync(join(dir, 'not-an-image.jpg'), 'hello');
  const write = (name: string, options: JsonObject) => {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(config(options)));
    return path;
  };

  it('reads them relative to the config file and carries their bytes (base64 + sha256)', () => {
    const loaded = loadConfigFile(
      write('ok.json', { task: 'bg-replace', background: { file: 'bg.jpg' } }),
      VENDORS,
    );
    const opts = loaded.config.data_transmit[0]?.options as JsonObject;
    assert.deepEqual(opts.background, {
      file: 'bg.jpg',
      data_base64: bg.toString('base64'),
      sha256: sha256(bg),
    });
  });
  it('a missing file or one that is not a JPEG/PNG is an error at its json_path', () => {
    const missing = write('missing.json', { task: 'bg-replace', background: { file: 'nope.jpg' } });
    assert.throws(
      () => loadConfigFile(missing, VENDORS),
      (e: unknown) =>
        e instanceof ConfigError &&
        JSON.stringify(e.violations[0]?.json_path) === '["data_transmit",0,"options","background","file"]' &&
        /cannot read nope\.jpg/.test(e.violations[0]?.description ?? ''),
    );
    const bad = write('bad.json', { task: 'bg-replace', background: { file: 'not-an-image.jpg' } });
    assert.throws(() => loadConfigFile(bad, VENDORS), /not a JPEG or PNG/);
  });
  it('leaves S3 images and other vendors alone', () => {
    const out = inlineConfigFiles({ task: 'bg-replace', background: { s3: 's3://b-b/k.jpg' } }, () => {
      throw new Error('must not read');
    });
    assert.deepEqual(out, {
      options: { task: 'bg-replace', background: { s3: 's3://b-b/k.jpg' } },
      errors: [],
    });
  });
});
