import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, beforeEach, describe, it } from 'node:test';
import { deflateSync } from 'node:zlib';
import { FormData, request } from 'undici';
import { V7DarwinSimulator } from './index.ts';
import {
  baseOptions,
  call,
  type ErrorOut,
  type ItemOut,
  type Json,
  KEY,
  localFile,
  md5,
  nth,
  OTHER_KEY,
  type RegisterOut,
  type Reply,
  registerBody,
  type SignOut,
  sha256,
  signedUrl,
  started,
  UUID,
  uploadIdOf,
  uploadSlot,
  type V1SignOut,
} from './testing.ts';

describe('V7 Darwin simulator — v2 upload flow', () => {
  let now = 1_700_000_000_000;
  const sim = new V7DarwinSimulator(baseOptions(() => now));
  let base = '';
  before(async () => {
    base = await sim.start();
  });
  after(() => sim.stop());
  beforeEach(() => {
    now = 1_700_000_000_000;
    sim.reset();
  });

  it('runs register → sign → PUT → confirm and records size and sha256', async () => {
    const reg = await call(base, 'POST', '/api/v2/teams/acme/items/register_upload', {
      body: registerBody('line-1', [localFile('part-001.jpg', '/station-3', { tags: ['defect'] })]),
    });
    assert.equal(reg.status, 200);
    const body = reg.json<RegisterOut>();
    assert.deepEqual(body.blocked_items, []);
    assert.equal(body.items.length, 1);
    const item = nth(body.items);
    assert.match(item.id, UUID);
    assert.equal(item.name, 'part-001.jpg');
    assert.equal(item.path, '/station-3');
    assert.equal(item.slots.length, 1);
    const slot = nth(item.slots);
    const uploadId = uploadIdOf(reg);
    assert.match(uploadId, UUID);
    assert.deepEqual(
      { ...slot, upload_id: 'x' },
      {
        type: 'image',
        file_name: 'part-001.jpg',
        slot_name: '0',
        upload_id: 'x',
        as_frames: false,
        extract_views: false,
      },
    );
    assert.equal(sim.items('acme', 'line-1')[0]?.slots[0]?.status, 'awaiting_upload');

    const sign = await call(base, 'GET', `/api/v2/teams/acme/items/uploads/${uploadId}/sign`);
    assert.equal(sign.status, 200);
    assert.deepEqual(Object.keys(sign.json()), ['upload_url']);
    const uploadUrl = sign.json<SignOut>().upload_url;
    assert.ok(uploadUrl.startsWith(`${base}/s3-upload/`));
    assert.match(uploadUrl, /X-Amz-Expires=60&/);

    const bytes = Buffer.from('\xff\xd8\xff\xe0 fake jpeg bytes', 'latin1');
    // darwin-py: requests.put(upload_url, data=file) — no Authorization, no Content-Type.
    const put = await request(uploadUrl, { method: 'PUT', body: bytes });
    assert.equal(put.statusCode, 200);
    assert.equal(put.headers.etag, `"${md5(bytes)}"`);
    await put.body.dump();
    assert.equal(sim.items('acme', 'line-1')[0]?.slots[0]?.status, 'uploaded');

    const confirm = await call(base, 'POST', `/api/v2/teams/acme/items/uploads/${uploadId}/confirm`, {
      body: {},
    });
    assert.equal(confirm.status, 200);
    assert.deepEqual(confirm.json(), {});

    const [stored] = sim.items('acme', 'line-1');
    assert.equal(stored?.status, 'complete');
    assert.equal(stored?.slots[0]?.status, 'complete');
    assert.equal(stored?.slots[0]?.size, bytes.length);
    assert.equal(stored?.slots[0]?.sha256, sha256(bytes));
    assert.deepEqual(stored?.slots[0]?.tags, ['defect']);
    assert.equal(sim.upload(uploadId)?.item.id, item.id);
  });

  it('streams a large PUT without buffering and hashes it', async () => {
    const reg = await call(base, 'POST', '/api/v2/teams/acme/items/register_upload', {
      body: registerBody('line-1', [localFile('clip.mp4', '/', { fps: 'native', as_frames: false })]),
    });
    assert.equal(nth(nth(reg.json<RegisterOut>().items).slots).type, 'video');
    const uploadId = uploadIdOf(reg);
    const chunk = Buffer.alloc(1024 * 1024, 7);
    const total = Buffer.concat([chunk, chunk, chunk, chunk, chunk]);
    const sign = await call(base, 'GET', `/api/v2/teams/acme/items/uploads/${uploadId}/sign`);
    const put = await request(sign.json<SignOut>().upload_url, {
      method: 'PUT',
      headers: { 'content-length': String(total.length) },
      body: Readable.from([chunk, chunk, chunk, chunk, chunk]),
    });
    assert.equal(put.statusCode, 200);
    await put.body.dump();
    const stored = sim.upload(uploadId)?.slot;
    assert.equal(stored?.size, 5 * 1024 * 1024);
    assert.equal(stored?.sha256, sha256(total));
  });

  it('uploads every slot of a multi-slot item (layout v3) separately', async () => {
    const reg = await call(base, 'POST', '/api/v2/teams/acme/items/register_upload', {
      body: registerBody('line-1', [
        {
          slots: [
            { file_name: 'left.png', slot_name: '0' },
            { file_name: 'right.png', slot_name: '1' },
          ],
          layout: { version: 3, slots_grid: [[['0'], ['1']]] },
          name: 'stereo-42',
          path: '/',
        },
      ]),
    });
    assert.equal(reg.status, 200);
    assert.equal(nth(reg.json<RegisterOut>().items).slots.length, 2);
    const [left, right] = [uploadIdOf(reg, 0, 0), uploadIdOf(reg, 0, 1)];
    assert.notEqual(left, right);
    assert.equal((await uploadSlot(base, 'acme', left, Buffer.from('L'))).status, 200);
    assert.equal(sim.items('acme', 'line-1')[0]?.status, 'uploading');
    assert.equal((await uploadSlot(base, 'acme', right, Buffer.from('R'))).status, 200);
    const [item] = sim.items('acme', 'line-1');
    assert.equal(item?.status, 'complete');
    assert.deepEqual(item?.layout, { version: 3, slots_grid: [[['0'], ['1']]] });
  });

  it('blocks ALREADY_EXISTS and UNKNOWN_TAGS inside a 200 while other items register', async () => {
    const first = await call(base, 'POST', '/api/v2/teams/acme/items/register_upload', {
      body: registerBody('line-1', [localFile('a.jpg', '/lot-1')]),
    });
    const existingId = nth(first.json<RegisterOut>().items).id;

    const reg = await call(base, 'POST', '/api/v2/teams/acme/items/register_upload', {
      body: registerBody('line-1', [
        localFile('a.jpg', '/lot-1'),
        localFile('b.jpg', '/lot-1', { tags: ['defect', 'no-such-tag'] }),
        localFile('c.jpg', '/lot-1', { tags: ['ok'] }),
        localFile('a.jpg', '/lot-2'),
        localFile('c.jpg', '/lot-1'),
      ]),
    });
    assert.equal(reg.status, 200);
    const body = reg.json<RegisterOut>();
    assert.deepEqual(
      body.items.map((i) => `${i.path}/${i.name}`),
      ['/lot-1/c.jpg', '/lot-2/a.jpg'],
    );
    const blocked = body.blocked_items;
    assert.deepEqual(
      blocked.map((b) => [b.name, b.path, b.slots[0]?.reason]),
      [
        ['a.jpg', '/lot-1', 'ALREADY_EXISTS'],
        ['b.jpg', '/lot-1', 'UNKNOWN_TAGS'],
        ['c.jpg', '/lot-1', 'ALREADY_EXISTS'],
      ],
    );
    assert.equal(blocked[0]?.id, existingId);
    assert.deepEqual(Object.keys(nth(nth(blocked, 1).slots)).sort(), [
      'as_frames',
      'extract_views',
      'file_name',
      'reason',
      'slot_name',
      'type',
      'upload_id',
    ]);
    // A blocked slot's upload_id was never registered.
    const sign = await call(
      base,
      'GET',
      `/api/v2/teams/acme/items/uploads/${nth(nth(blocked, 1).slots).upload_id}/sign`,
    );
    assert.equal(sign.status, 404);
    assert.equal(sim.items('acme', 'line-1').length, 3);
  });

  it('refuses confirm before the PUT arrived, then accepts it after', async () => {
    const reg = await call(base, 'POST', '/api/v2/teams/acme/items/register_upload', {
      body: registerBody('line-1', [localFile('early.jpg')]),
    });
    const uploadId = uploadIdOf(reg);
    const early = await call(base, 'POST', `/api/v2/teams/acme/items/uploads/${uploadId}/confirm`, {
      body: {},
    });
    assert.equal(early.status, 422);
    assert.deepEqual(early.json(), {
      errors: { code: 'UPLOAD_NOT_RECEIVED', message: 'the file has not been uploaded yet' },
    });
    assert.equal(sim.upload(uploadId)?.slot.status, 'awaiting_upload');
    assert.equal((await uploadSlot(base, 'acme', uploadId, Buffer.from('x'))).status, 200);
    // Confirm again is idempotent; signing a confirmed upload is refused.
    const again = await call(base, 'POST', `/api/v2/teams/acme/items/uploads/${uploadId}/confirm`, {
      body: {},
    });
    assert.equal(again.status, 200);
    const sign = await call(base, 'GET', `/api/v2/teams/acme/items/uploads/${uploadId}/sign`);
    assert.equal(sign.status, 422);
    assert.equal(sign.json<ErrorOut>().errors.code, 'UPLOAD_ALREADY_CONFIRMED');
  });

  it('answers 403 with an S3 XML body once the upload URL expired', async () => {
    const reg = await call(base, 'POST', '/api/v2/teams/acme/items/register_upload', {
      body: registerBody('line-1', [localFile('late.jpg')]),
    });
    const uploadId = uploadIdOf(reg);
    const sign = await call(base, 'GET', `/api/v2/teams/acme/items/uploads/${uploadId}/sign`);
    now += 60_001;
    const put = await request(sign.json<SignOut>().upload_url, { method: 'PUT', body: Buffer.from('late') });
    assert.equal(put.statusCode, 403);
    assert.equal(put.headers['content-type'], 'application/xml');
    const xml = await put.body.text();
    assert.ok(xml.includes('<Error><Code>AccessDenied</Code><Message>Request has expired</Message>'), xml);
    assert.equal(sim.upload(uploadId)?.slot.status, 'awaiting_upload');

    // A fresh signature works again; expireSignedUrls() expires it on demand.
    const fresh = await call(base, 'GET', `/api/v2/teams/acme/items/uploads/${uploadId}/sign`);
    sim.expireSignedUrls();
    const put2 = await request(fresh.json<SignOut>().upload_url, {
      method: 'PUT',
      body: Buffer.from('late'),
    });
    assert.equal(put2.statusCode, 403);
    await put2.body.dump();
    const fresh2 = await call(base, 'GET', `/api/v2/teams/acme/items/uploads/${uploadId}/sign`);
    const put3 = await request(fresh2.json<SignOut>().upload_url, { method: 'PUT', body: Buffer.from('ok') });
    assert.equal(put3.statusCode, 200);
    await put3.body.dump();
  });

  it('refuses a tampered signature, an unknown token and a PUT without Content-Length', async () => {
    const reg = await call(base, 'POST', '/api/v2/teams/acme/items/register_upload', {
      body: registerBody('line-1', [localFile('s.jpg')]),
    });
    const uploadId = uploadIdOf(reg);
    const url = await signedUrl(base, 'acme', uploadId);
    const tampered = url.replace(
      /X-Amz-Signature=([0-9a-f])/,
      (_m, c: string) => `X-Amz-Signature=${c === 'a' ? 'b' : 'a'}`,
    );
    const bad = await request(tampered, { method: 'PUT', body: Buffer.from('x') });
    assert.equal(bad.statusCode, 403);
    assert.match(await bad.body.text(), /<Code>SignatureDoesNotMatch<\/Code>/);
    const unknown = await request(`${base}/s3-upload/nope?X-Amz-Signature=00`, { method: 'PUT', body: 'x' });
    assert.equal(unknown.statusCode, 403);
    assert.match(await unknown.body.text(), /<Code>AccessDenied<\/Code>/);
    const chunked = await request(url, {
      method: 'PUT',
      body: Readable.from([Buffer.from('a'), Buffer.from('b')]),
    });
    assert.equal(chunked.statusCode, 411);
    assert.match(await chunked.body.text(), /<Code>MissingContentLength<\/Code>/);
    assert.equal(sim.upload(uploadId)?.slot.upload_count, 0);
  });

  it('injects 503 SlowDown on the PUT; a darwin-py style retry then succeeds', async () => {
    const reg = await call(base, 'POST', '/api/v2/teams/acme/items/register_upload', {
      body: registerBody('line-1', [localFile('busy.jpg')]),
    });
    const uploadId = uploadIdOf(reg);
    const url = await signedUrl(base, 'acme', uploadId);
    sim.injectS3SlowDown(2);
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      const res = await request(url, { method: 'PUT', body: Buffer.from('busy') });
      statuses.push(res.statusCode);
      const text = await res.body.text();
      if (res.statusCode === 503) assert.match(text, /<Code>SlowDown<\/Code>/);
      if (res.statusCode !== 503) break;
    }
    assert.deepEqual(statuses, [503, 503, 200]);
    assert.deepEqual(
      sim.requestsTo('s3Put').map((r) => r.outcome),
      ['fault-status', 'fault-status', 'answered'],
    );

    // The same through the inspection API, with the framework's generic fault body.
    const set = await request(`${base}/__sim/faults`, {
      method: 'PUT',
      body: JSON.stringify({ script: [{ route: 's3Put', status: 503 }] }),
    });
    assert.equal(set.statusCode, 200);
    await set.body.dump();
    const res = await request(url, { method: 'PUT', body: Buffer.from('busy') });
    assert.equal(res.statusCode, 503);
    await res.body.dump();
  });

  it('answers 401 NOT_AUTHENTICATED without the literal "ApiKey <key>" header', async () => {
    const path = '/api/v2/teams/acme/items/register_upload';
    const body = registerBody('line-1', [localFile('a.jpg')]);
    const cases: Array<Record<string, string>> = [
      {},
      { authorization: `Bearer ${KEY}` },
      { authorization: `apikey ${KEY}` },
      { authorization: 'ApiKey not-a-key' },
      { authorization: 'ApiKey' },
    ];
    for (const headers of cases) {
      const res = await call(base, 'POST', path, { key: null, headers, body });
      assert.equal(res.status, 401, JSON.stringify(headers));
      assert.deepEqual(res.json(), {
        errors: { code: 'NOT_AUTHENTICATED', message: 'Invalid or missing API key' },
      });
    }
    const sign = await call(base, 'GET', '/api/v2/teams/acme/items/uploads/x/sign', { key: 'wrong' });
    assert.equal(sign.status, 401);
    assert.equal(sim.items('acme', 'line-1').length, 0);
    // The log keeps no credential.
    assert.doesNotMatch(JSON.stringify(sim.requests), new RegExp(KEY));
  });

  it('answers 404 for an unknown team, a foreign team, an unknown dataset and an unknown upload', async () => {
    const body = registerBody('line-1', [localFile('a.jpg')]);
    const unknownTeam = await call(base, 'POST', '/api/v2/teams/nobody/items/register_upload', { body });
    assert.equal(unknownTeam.status, 404);
    assert.deepEqual(unknownTeam.json(), { errors: { code: 'NOT_FOUND', message: 'team not found' } });
    const foreign = await call(base, 'POST', '/api/v2/teams/acme/items/register_upload', {
      key: OTHER_KEY,
      body,
    });
    assert.equal(foreign.status, 404);
    assert.deepEqual(foreign.json(), { errors: { code: 'NOT_FOUND', message: 'team not found' } });
    const dataset = await call(base, 'POST', '/api/v2/teams/acme/items/register_upload', {
      body: registerBody('no-such-dataset', [localFile('a.jpg')]),
    });
    assert.equal(dataset.status, 404);
    assert.deepEqual(dataset.json(), { errors: { code: 'NOT_FOUND', message: 'dataset not found' } });
    const theirs = await call(base, 'POST', '/api/v2/teams/acme/items/register_upload', {
      body: registerBody('theirs', [localFile('a.jpg')]),
    });
    assert.equal(theirs.status, 404);

    const reg = await call(base, 'POST', '/api/v2/teams/acme/items/register_upload', { body });
    const uploadId = uploadIdOf(reg);
    const sign = await call(base, 'GET', `/api/v2/teams/acme/items/uploads/${crypto.randomUUID()}/sign`);
    assert.equal(sign.status, 404);
    assert.deepEqual(sign.json(), { errors: { code: 'NOT_FOUND', message: 'upload not found' } });
    const confirm = await call(
      base,
      'POST',
      `/api/v2/teams/acme/items/uploads/${crypto.randomUUID()}/confirm`,
      {
        body: {},
      },
    );
    assert.equal(confirm.status, 404);
    // Another team's key cannot reach acme's upload through its own team either.
    const cross = await call(base, 'GET', `/api/v2/teams/globex/items/uploads/${uploadId}/sign`, {
      key: OTHER_KEY,
    });
    assert.equal(cross.status, 404);
  });

  it('answers 422 {"errors":{…}} for validation failures, naming each field', async () => {
    const res = await call(base, 'POST', '/api/v2/teams/acme/items/register_upload', {
      body: {
        items: [
          { slots: [{ slot_name: '0' }], path: '/' },
          {
            name: 'b.jpg',
            slots: [{ file_name: 'b.jpg', slot_name: '0', as_frames: 'yes', tags: 'defect' }],
          },
          { name: 'c.jpg', slots: [] },
          {
            name: 'd',
            slots: [
              { file_name: 'd1.png', slot_name: 'x' },
              { file_name: 'd2.png', slot_name: 'x' },
            ],
          },
        ],
      },
    });
    assert.equal(res.status, 422);
    assert.deepEqual(res.json(), {
      errors: {
        code: 'INVALID_REQUEST',
        dataset_slug: ["can't be blank"],
        'items[0].name': ["can't be blank"],
        'items[0].slots[0].file_name': ["can't be blank"],
        'items[1].slots[0].tags': ['is invalid'],
        'items[1].slots[0].as_frames': ['is invalid'],
        'items[2].slots': ['should have at least 1 slot(s)'],
        'items[3].slots[1].slot_name': ['has already been used in this item'],
      },
    });
    const notJson = await call(base, 'POST', '/api/v2/teams/acme/items/register_upload', {
      raw: Buffer.from('{'),
    });
    assert.equal(notJson.status, 422);
    assert.deepEqual(notJson.json(), { errors: { code: 'INVALID_REQUEST', body: ['is not valid JSON'] } });
    const noItems = await call(base, 'POST', '/api/v2/teams/acme/items/register_upload', {
      body: { dataset_slug: 'line-1', items: [] },
    });
    assert.equal(noItems.status, 422);
    assert.deepEqual(noItems.json<ErrorOut>().errors.items, ['should have at least 1 item(s)']);
    assert.equal(sim.items('acme', 'line-1').length, 0);
  });

  it('refuses more than 500 items with 422 and accepts exactly 500', async () => {
    const many = Array.from({ length: 501 }, (_, i) => localFile(`f-${i}.jpg`));
    const res = await call(base, 'POST', '/api/v2/teams/acme/items/register_upload', {
      body: registerBody('line-1', many),
    });
    assert.equal(res.status, 422);
    assert.deepEqual(res.json(), {
      errors: { code: 'INVALID_REQUEST', items: ['should have at most 500 item(s), got 501'] },
    });
    const ok = await call(base, 'POST', '/api/v2/teams/acme/items/register_upload', {
      body: registerBody('line-1', many.slice(0, 500)),
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.json<RegisterOut>().items.length, 500);
  });

  it('accepts zlib-compressed payloads (X-Darwin-Payload-Compression-Version: 1)', async () => {
    const raw = deflateSync(Buffer.from(JSON.stringify(registerBody('line-2', [localFile('z.jpg')]))));
    const res = await call(base, 'POST', '/api/v2/teams/acme/items/register_upload', {
      raw,
      headers: { 'x-darwin-payload-compression-version': '1' },
    });
    assert.equal(res.status, 200);
    assert.equal(sim.items('acme', 'line-2')[0]?.name, 'z.jpg');
  });

  it('exposes state through /__sim/state and clears it on reset', async () => {
    await call(base, 'POST', '/api/v2/teams/acme/items/register_upload', {
      body: registerBody('line-1', [localFile('s.jpg')]),
    });
    const state = (await (await request(`${base}/__sim/state`)).body.json()) as {
      teams: Record<string, { remainingStorageBytes: number | null; datasets: Record<string, ItemOut[]> }>;
    };
    const acme = state.teams.acme;
    assert.deepEqual(
      acme?.datasets['line-1']?.map((i) => i.name),
      ['s.jpg'],
    );
    assert.deepEqual(acme?.datasets['line-2'], []);
    assert.equal(acme?.remainingStorageBytes, null);
    const reset = await request(`${base}/__sim/reset`, { method: 'POST' });
    await reset.body.dump();
    assert.equal(sim.items('acme', 'line-1').length, 0);
  });

  it('keeps legacy v1 routes switched off unless legacyV1 is set', async () => {
    const reg = await call(base, 'PUT', '/api/teams/acme/datasets/line-1/data', {
      body: { items: [{ filename: 'a.jpg', path: '/' }] },
    });
    assert.equal(reg.status, 404);
    assert.equal((await call(base, 'GET', '/api/dataset_items/5600/sign_upload')).status, 404);
    assert.equal(
      (await call(base, 'PUT', '/api/dataset_items/5600/confirm_upload', { body: {} })).status,
      404,
    );
    const form = await request(`${base}/s3-form`, { method: 'POST', body: new FormData() });
    assert.equal(form.statusCode, 404);
    await form.body.dump();
    assert.equal(sim.requestsTo('unknown').length, 4);
  });
});

describe('V7 Darwin simulator — external storage', () => {
  let now = 1_700_000_000_000;
  const sim = new V7DarwinSimulator(baseOptions(() => now));
  let base = '';
  before(async () => {
    base = await sim.start();
  });
  after(() => sim.stop());
  beforeEach(() => {
    now = 1_700_000_000_000;
    sim.reset();
  });

  const existing = (items: Json[], storage = 'acme-bucket') => ({
    items,
    dataset_slug: 'line-1',
    storage_slug: storage,
  });

  it('register_existing: unknown storage → 404, known storage → items (single- and multi-slot)', async () => {
    const single = { path: '/', type: 'image', storage_key: 'cams/a/001.jpg', name: '001.jpg' };
    const unknown = await call(base, 'POST', '/api/v2/teams/acme/items/register_existing', {
      body: existing([single], 'nope-bucket'),
    });
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.json(), { errors: { code: 'NOT_FOUND', message: 'storage not found' } });

    const res = await call(base, 'POST', '/api/v2/teams/acme/items/register_existing', {
      body: existing([
        single,
        { path: '/dicom', type: 'dicom', storage_key: 'scan.dcm', name: 'scan.dcm', extract_views: 'true' },
        {
          slots: [
            { slot_name: 'top.jpg', type: 'image', storage_key: 'cams/b/top.jpg', file_name: 'top.jpg' },
            { slot_name: 'side.jpg', type: 'image', storage_key: 'cams/b/side.jpg', file_name: 'side.jpg' },
          ],
          name: 'unit-9',
          path: '/',
        },
      ]),
    });
    assert.equal(res.status, 200);
    const body = res.json<RegisterOut>();
    assert.deepEqual(body.blocked_items, []);
    assert.deepEqual(
      body.items.map((i) => [i.name, i.path, i.slots.map((s) => s.storage_key)]),
      [
        ['001.jpg', '/', ['cams/a/001.jpg']],
        ['scan.dcm', '/dicom', ['scan.dcm']],
        ['unit-9', '/', ['cams/b/top.jpg', 'cams/b/side.jpg']],
      ],
    );
    assert.equal(nth(nth(body.items, 1).slots).extract_views, true);
    assert.equal(nth(nth(body.items, 0).slots).upload_id, undefined);
    const stored = sim.items('acme', 'line-1');
    assert.deepEqual(
      stored.map((i) => [i.source, i.status, i.storage_slug]),
      [
        ['external', 'complete', 'acme-bucket'],
        ['external', 'complete', 'acme-bucket'],
        ['external', 'complete', 'acme-bucket'],
      ],
    );

    const again = await call(base, 'POST', '/api/v2/teams/acme/items/register_existing', {
      body: existing([single]),
    });
    assert.equal(again.status, 200);
    assert.deepEqual(again.json<RegisterOut>().items, []);
    const blocked = nth(again.json<RegisterOut>().blocked_items);
    assert.equal(nth(blocked.slots).reason, 'ALREADY_EXISTS');
    assert.equal(blocked.id, stored[0]?.id);
  });

  it('register_existing refuses read-only fields with 422 (payload mix-up)', async () => {
    const res = await call(base, 'POST', '/api/v2/teams/acme/items/register_existing', {
      body: existing([
        {
          name: 'ro.jpg',
          path: '/',
          slots: [
            {
              slot_name: '0',
              file_name: 'ro.jpg',
              storage_key: 'ro.jpg',
              storage_thumbnail_key: 'thumbs/ro.jpg',
              width: 10,
              height: 10,
            },
          ],
        },
      ]),
    });
    assert.equal(res.status, 422);
    assert.deepEqual(res.json(), {
      errors: {
        code: 'INVALID_REQUEST',
        'items[0].slots[0].storage_thumbnail_key': ['is a read-only field: use register_existing_readonly'],
      },
    });
  });

  it('register_existing_readonly: read-write payload → 422, complete slots → items', async () => {
    const mixed = await call(base, 'POST', '/api/v2/teams/acme/items/register_existing_readonly', {
      body: existing([{ path: '/', type: 'image', storage_key: 'a.jpg', name: 'a.jpg' }]),
    });
    assert.equal(mixed.status, 422);
    assert.deepEqual(mixed.json(), {
      errors: {
        code: 'INVALID_REQUEST',
        'items[0].storage_key': ['is not accepted for read-only storage: use register_existing'],
        'items[0].type': ['is not accepted for read-only storage: use register_existing'],
        'items[0].slots': ["can't be blank"],
      },
    });

    const missing = await call(base, 'POST', '/api/v2/teams/acme/items/register_existing_readonly', {
      body: existing([
        {
          name: 'a.jpg',
          path: '/',
          slots: [{ slot_name: '0', file_name: 'a.jpg', storage_key: 'a.jpg', fps: 5 }],
        },
      ]),
    });
    assert.equal(missing.status, 422);
    assert.deepEqual(missing.json(), {
      errors: {
        code: 'INVALID_REQUEST',
        'items[0].slots[0].width': ["can't be blank"],
        'items[0].slots[0].height': ["can't be blank"],
        'items[0].slots[0].storage_thumbnail_key': ["can't be blank"],
        'items[0].slots[0].fps': ['is not accepted for read-only storage: use register_existing'],
      },
    });

    const ok = await call(base, 'POST', '/api/v2/teams/acme/items/register_existing_readonly', {
      body: existing([
        {
          name: 'a.jpg',
          path: '/ro',
          slots: [
            {
              type: 'image',
              slot_name: '0',
              file_name: 'a.jpg',
              storage_key: 'ro/a.jpg',
              storage_thumbnail_key: 'ro/thumbs/a.jpg',
              width: 640,
              height: 480,
              size_bytes: 1234,
            },
          ],
        },
      ]),
    });
    assert.equal(ok.status, 200);
    assert.equal(nth(nth(ok.json<RegisterOut>().items).slots).storage_key, 'ro/a.jpg');
    const [item] = sim.items('acme', 'line-1');
    assert.equal(item?.source, 'external_readonly');
    assert.equal(item?.status, 'complete');
    assert.deepEqual(item?.slots[0]?.metadata, {
      storage_thumbnail_key: 'ro/thumbs/a.jpg',
      width: 640,
      height: 480,
      size_bytes: 1234,
    });
  });
});

describe('V7 Darwin simulator — limits', () => {
  let now = 1_700_000_000_000;
  const clock = () => now;
  beforeEach(() => {
    now = 1_700_000_000_000;
  });

  it('rate limits per key with 429 and Retry-After, then recovers', async (t) => {
    const [, base] = await started(t, baseOptions(clock, { rateLimit: { perMinute: 2 } }));
    const path = '/api/v2/teams/acme/items/register_existing';
    const body = { dataset_slug: 'line-1', storage_slug: 'acme-bucket', items: [] };
    assert.equal((await call(base, 'POST', path, { body })).status, 422);
    assert.equal((await call(base, 'POST', path, { body })).status, 422);
    const limited = await call(base, 'POST', path, { body });
    assert.equal(limited.status, 429);
    assert.equal(limited.headers['retry-after'], '30');
    assert.deepEqual(limited.json(), {
      errors: { code: 'RATE_LIMIT_EXCEEDED', message: 'Too many requests' },
    });
    // Another key has its own bucket; the S3 PUT is not limited by it.
    assert.equal((await call(base, 'POST', path, { key: OTHER_KEY, body })).status, 404);
    now += 30_000;
    assert.equal((await call(base, 'POST', path, { body })).status, 422);
  });

  it('can omit Retry-After on 429', async (t) => {
    const [, base] = await started(t, baseOptions(clock, { rateLimit: { perMinute: 1, retryAfter: false } }));
    assert.equal((await call(base, 'GET', '/api/v2/teams/acme/items/uploads/x/sign')).status, 404);
    const limited = await call(base, 'GET', '/api/v2/teams/acme/items/uploads/x/sign');
    assert.equal(limited.status, 429);
    assert.equal(limited.headers['retry-after'], undefined);
    assert.equal(limited.json<ErrorOut>().errors.code, 'RATE_LIMIT_EXCEEDED');
  });

  it('answers 429 INSUFFICIENT_REMAINING_STORAGE at register (declared sizes) and at confirm', async (t) => {
    const opts = baseOptions(clock);
    opts.teams.acme = { datasets: ['line-1'], remainingStorageBytes: 10 };
    opts.teams.globex = { datasets: ['theirs'], remainingStorageBytes: 0 };
    const [sim, base] = await started(t, opts);
    const declared = await call(base, 'POST', '/api/v2/teams/acme/items/register_upload', {
      body: registerBody('line-1', [localFile('big.jpg', '/', { size_bytes: 11 })]),
    });
    assert.equal(declared.status, 429);
    assert.deepEqual(declared.json(), { errors: { code: 'INSUFFICIENT_REMAINING_STORAGE' } });
    assert.equal(sim.items('acme', 'line-1').length, 0);

    const empty = await call(base, 'POST', '/api/v2/teams/globex/items/register_upload', {
      key: OTHER_KEY,
      body: registerBody('theirs', [localFile('a.jpg')]),
    });
    assert.equal(empty.status, 429);
    assert.deepEqual(empty.json(), { errors: { code: 'INSUFFICIENT_REMAINING_STORAGE' } });

    const reg = await call(base, 'POST', '/api/v2/teams/acme/items/register_upload', {
      body: registerBody('line-1', [localFile('big.jpg'), localFile('small.jpg')]),
    });
    assert.equal(reg.status, 200);
    const [big, small] = [uploadIdOf(reg, 0), uploadIdOf(reg, 1)];
    const tooBig = await uploadSlot(base, 'acme', big, Buffer.alloc(20));
    assert.equal(tooBig.status, 429);
    assert.deepEqual(tooBig.json(), { errors: { code: 'INSUFFICIENT_REMAINING_STORAGE' } });
    assert.equal(sim.upload(big)?.slot.status, 'uploaded');
    assert.equal(sim.remainingStorage('acme'), 10);
    assert.equal((await uploadSlot(base, 'acme', small, Buffer.alloc(6))).status, 200);
    assert.equal(sim.remainingStorage('acme'), 4);
  });

  it('answers 413 above maxRequestBytes, compressed or not', async (t) => {
    const [sim, base] = await started(t, baseOptions(clock, { maxRequestBytes: 2048 }));
    const items = Array.from({ length: 40 }, (_, i) => localFile(`file-with-a-long-name-${i}.jpg`));
    const plain = await call(base, 'POST', '/api/v2/teams/acme/items/register_upload', {
      body: registerBody('line-1', items),
    });
    assert.equal(plain.status, 413);
    assert.deepEqual(plain.json(), {
      errors: { code: 'PAYLOAD_TOO_LARGE', message: 'request body exceeds 2048 bytes' },
    });
    const raw = deflateSync(Buffer.from(JSON.stringify(registerBody('line-1', items))));
    assert.ok(raw.length < 2048);
    const zipped = await call(base, 'POST', '/api/v2/teams/acme/items/register_upload', {
      raw,
      headers: { 'x-darwin-payload-compression-version': '1' },
    });
    assert.equal(zipped.status, 413);
    assert.equal(sim.items('acme', 'line-1').length, 0);
  });

  it('blocks ITEM_COUNT_LIMIT_EXCEEDED beyond the team item limit', async (t) => {
    const opts = baseOptions(clock);
    opts.teams.acme = { datasets: ['line-1'], maxItems: 2 };
    const [sim, base] = await started(t, opts);
    const res = await call(base, 'POST', '/api/v2/teams/acme/items/register_upload', {
      body: registerBody('line-1', [localFile('1.jpg'), localFile('2.jpg'), localFile('3.jpg')]),
    });
    assert.equal(res.status, 200);
    assert.equal(res.json<RegisterOut>().items.length, 2);
    assert.deepEqual(
      res.json<RegisterOut>().blocked_items.map((b) => [b.name, b.slots[0]?.reason]),
      [['3.jpg', 'ITEM_COUNT_LIMIT_EXCEEDED']],
    );
    assert.equal(sim.items('acme', 'line-1').length, 2);
  });

  it('keeps confirmed slots processing for processingDelayMs', async (t) => {
    const [sim, base] = await started(t, baseOptions(clock, { processingDelayMs: 3_600_000 }));
    const reg = await call(base, 'POST', '/api/v2/teams/acme/items/register_upload', {
      body: registerBody('line-1', [localFile('slow.jpg')]),
    });
    const uploadId = uploadIdOf(reg);
    assert.equal((await uploadSlot(base, 'acme', uploadId, Buffer.from('x'))).status, 200);
    assert.equal(sim.upload(uploadId)?.slot.status, 'processing');
    assert.equal(sim.upload(uploadId)?.item.status, 'processing');
  });
});

describe('V7 Darwin simulator — legacy v1', () => {
  let now = 1_700_000_000_000;
  const opts = baseOptions(() => now, { legacyV1: true });
  opts.teams.acme = {
    datasets: ['animals'],
    storages: ['my-own-storage'],
    tags: ['shorthair', 'bedroom'],
    tagsWithText: ['bedroom'],
  };
  const sim = new V7DarwinSimulator(opts);
  let base = '';
  before(async () => {
    base = await sim.start();
  });
  after(() => sim.stop());
  beforeEach(() => {
    now = 1_700_000_000_000;
    sim.reset();
  });

  async function v1Register(items: Json[]): Promise<Reply> {
    return call(base, 'PUT', '/api/teams/acme/datasets/animals/data', { body: { items } });
  }

  function signatureForm(signature: Record<string, string>, file: Buffer, fileLast = true): FormData {
    const form = new FormData();
    const entries = Object.entries(signature);
    if (!fileLast) form.append('file', new Blob([file]), 'cat_1.jpg');
    for (const [k, v] of entries) form.append(k, v);
    if (fileLast) form.append('file', new Blob([file]), 'cat_1.jpg');
    return form;
  }

  it('runs register → sign (POST form) → S3 POST → confirm', async () => {
    const reg = await v1Register([
      { filename: 'cat_1.jpg', path: 'cats', tags: ['shorthair'] },
      { filename: 'cat_5.jpg', path: 'cats', tags: ['unknown'] },
      { filename: 'cam_1.mp4', tags: [{ bedroom: '{"camera_id":"A123"}' }] },
      { filename: 'cam_2.mp4', tags: [{ shorthair: 'text not allowed' }] },
    ]);
    assert.equal(reg.status, 200);
    assert.deepEqual(reg.json(), {
      items: [
        { dataset_item_id: 5600, filename: 'cat_1.jpg', path: '/cats' },
        { dataset_item_id: 5602, filename: 'cam_1.mp4', path: '/' },
      ],
      blocked_items: [
        { dataset_item_id: 5601, filename: 'cat_5.jpg', path: '/cats', reason: 'UNKNOWN_TAG' },
        { dataset_item_id: 5603, filename: 'cam_2.mp4', path: '/', reason: 'MISSING_TEXT_FOR_TAG' },
      ],
    });
    assert.deepEqual(sim.itemByLegacyId(5602)?.tag_texts, { bedroom: '{"camera_id":"A123"}' });

    const early = await call(base, 'PUT', '/api/dataset_items/5600/confirm_upload', { body: {} });
    assert.equal(early.status, 422);
    assert.equal(early.json<ErrorOut>().errors.code, 'UPLOAD_NOT_RECEIVED');

    const sign = await call(base, 'GET', '/api/dataset_items/5600/sign_upload');
    assert.equal(sign.status, 200);
    const { postEndpoint, signature } = sign.json<V1SignOut>();
    assert.equal(postEndpoint, `${base.replace('http:', '')}/s3-form`);
    assert.deepEqual(Object.keys(signature), [
      'X-amz-algorithm',
      'X-amz-credential',
      'X-amz-date',
      'X-amz-signature',
      'acl',
      'key',
      'policy',
      'success_action_status',
    ]);
    assert.equal(signature.acl, 'private');
    assert.equal(signature.success_action_status, '201');

    const bytes = Buffer.from('cat picture');
    // darwin-py @dd73b88: MultipartEncoder(fields={**signature, "file": …}) → POST "http:" + postEndpoint
    const post = await request(`http:${postEndpoint}`, {
      method: 'POST',
      body: signatureForm(signature, bytes),
    });
    assert.equal(post.statusCode, 201);
    assert.equal(post.headers.etag, `"${md5(bytes)}"`);
    const xml = await post.body.text();
    assert.match(xml, /^<\?xml[^>]*>\n<PostResponse><Location>/);
    assert.ok(xml.includes(`<Key>${signature.key}</Key>`));

    const confirm = await call(base, 'PUT', '/api/dataset_items/5600/confirm_upload', { body: {} });
    assert.equal(confirm.status, 200);
    const item = sim.itemByLegacyId(5600);
    assert.equal(item?.status, 'complete');
    assert.equal(item?.slots[0]?.sha256, sha256(bytes));
    assert.equal(item?.path, '/cats');

    const dup = await v1Register([{ filename: 'cat_1.jpg', path: 'cats' }]);
    assert.deepEqual(dup.json<RegisterOut>().blocked_items, [
      { dataset_item_id: 5600, filename: 'cat_1.jpg', path: '/cats', reason: 'ALREADY_EXISTS' },
    ]);
  });

  it('answers 400 when the file is not the last form field or a signature field is missing', async () => {
    await v1Register([{ filename: 'cat_1.jpg', path: 'cats' }]);
    const sign = await call(base, 'GET', '/api/dataset_items/5600/sign_upload');
    const { postEndpoint, signature } = sign.json<V1SignOut>();
    const bytes = Buffer.from('cat');

    const notLast = await request(`http:${postEndpoint}`, {
      method: 'POST',
      body: signatureForm(signature, bytes, false),
    });
    assert.equal(notLast.statusCode, 400);
    assert.match(
      await notLast.body.text(),
      /<Code>InvalidArgument<\/Code><Message>The file or content must be the last/,
    );

    const { policy: _policy, ...withoutPolicy } = signature;
    const missing = await request(`http:${postEndpoint}`, {
      method: 'POST',
      body: signatureForm(withoutPolicy, bytes),
    });
    assert.equal(missing.statusCode, 400);
    assert.match(await missing.body.text(), /Bucket POST must contain a field named 'policy'/);

    const forged = await request(`http:${postEndpoint}`, {
      method: 'POST',
      body: signatureForm({ ...signature, 'X-amz-signature': '0'.repeat(64) }, bytes),
    });
    assert.equal(forged.statusCode, 403);
    assert.match(await forged.body.text(), /<Code>SignatureDoesNotMatch<\/Code>/);

    now += 60_001;
    const expired = await request(`http:${postEndpoint}`, {
      method: 'POST',
      body: signatureForm(signature, bytes),
    });
    assert.equal(expired.statusCode, 403);
    assert.match(await expired.body.text(), /Policy expired/);
    assert.equal(sim.itemByLegacyId(5600)?.slots[0]?.status, 'awaiting_upload');
  });

  it('registers v1 external items with storage_name, and 404s for other teams and unknown ids', async () => {
    const ext = await call(base, 'PUT', '/api/teams/acme/datasets/animals/data', {
      body: {
        storage_name: 'my-own-storage',
        items: [
          {
            filename: 'cat_1.jpg',
            key: 'animals/originals/cats/1.jpg',
            thumbnail_key: 'animals/thumbnails/cats/1.jpg',
            width: 900,
            height: 675,
            path: 'cats',
            tags: ['shorthair'],
          },
        ],
      },
    });
    assert.equal(ext.status, 200);
    assert.deepEqual(ext.json<RegisterOut>().items, [
      { dataset_item_id: 5600, filename: 'cat_1.jpg', path: '/cats' },
    ]);
    assert.equal(sim.itemByLegacyId(5600)?.status, 'complete');
    assert.equal(sim.itemByLegacyId(5600)?.slots[0]?.storage_key, 'animals/originals/cats/1.jpg');
    // External items have nothing to sign.
    assert.equal((await call(base, 'GET', '/api/dataset_items/5600/sign_upload')).status, 404);

    const badStorage = await call(base, 'PUT', '/api/teams/acme/datasets/animals/data', {
      body: { storage_name: 'nope', items: [{ filename: 'x.jpg', key: 'x.jpg' }] },
    });
    assert.equal(badStorage.status, 404);
    const noFilename = await v1Register([{ path: 'cats' }]);
    assert.equal(noFilename.status, 422);
    assert.deepEqual(noFilename.json<ErrorOut>().errors['items[0].filename'], ["can't be blank"]);

    await v1Register([{ filename: 'dog_1.jpg', path: 'dogs' }]);
    const foreign = await call(base, 'GET', '/api/dataset_items/5601/sign_upload', { key: OTHER_KEY });
    assert.equal(foreign.status, 404);
    assert.equal((await call(base, 'GET', '/api/dataset_items/999999/sign_upload')).status, 404);
    assert.equal((await call(base, 'GET', '/api/dataset_items/5601/sign_upload', { key: null })).status, 401);
    const otherDataset = await call(base, 'PUT', '/api/teams/acme/datasets/dogs/data', {
      body: { items: [{ filename: 'a.jpg' }] },
    });
    assert.equal(otherDataset.status, 404);
  });

  it('models the Oct 2021 switch to {upload_url} with legacyV1Mode "put"', async (t) => {
    const putOpts = baseOptions(() => now, { legacyV1: true, legacyV1Mode: 'put' });
    const [putSim, putBase] = await started(t, putOpts);
    await call(putBase, 'PUT', '/api/teams/acme/datasets/line-1/data', {
      body: { items: [{ filename: 'a.jpg', path: '/' }] },
    });
    const sign = await call(putBase, 'GET', '/api/dataset_items/5600/sign_upload');
    assert.equal(sign.status, 200);
    assert.deepEqual(Object.keys(sign.json()), ['upload_url']);
    const put = await request(sign.json<SignOut>().upload_url, { method: 'PUT', body: Buffer.from('abc') });
    assert.equal(put.statusCode, 200);
    await put.body.dump();
    const confirm = await call(putBase, 'PUT', '/api/dataset_items/5600/confirm_upload', { body: {} });
    assert.equal(confirm.status, 200);
    assert.equal(putSim.itemByLegacyId(5600)?.slots[0]?.size, 3);
    // /s3-form only answers in post-form mode (the route exists but no grant was issued).
    const form = await request(`${putBase}/s3-form`, { method: 'POST', body: new FormData() });
    assert.equal(form.statusCode, 400);
    await form.body.dump();
  });

  it('injects 503 on the S3 POST form', async () => {
    await v1Register([{ filename: 'cat_1.jpg', path: 'cats' }]);
    const { postEndpoint, signature } = (
      await call(base, 'GET', '/api/dataset_items/5600/sign_upload')
    ).json() as {
      postEndpoint: string;
      signature: Record<string, string>;
    };
    sim.injectS3SlowDown(1, 's3PostForm');
    const first = await request(`http:${postEndpoint}`, {
      method: 'POST',
      body: signatureForm(signature, Buffer.from('c')),
    });
    assert.equal(first.statusCode, 503);
    await first.body.dump();
    const second = await request(`http:${postEndpoint}`, {
      method: 'POST',
      body: signatureForm(signature, Buffer.from('c')),
    });
    assert.equal(second.statusCode, 201);
    await second.body.dump();
  });
});
