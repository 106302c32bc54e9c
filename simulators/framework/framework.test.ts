import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { FormData, request } from 'undici';
import { parseMultipart } from './multipart.ts';
import { Rng } from './rng.ts';
import { isLoopbackAddress, Simulator } from './server.ts';
import { TokenBucket } from './token-bucket.ts';

describe('simulator framework', () => {
  const sim = new Simulator('test', { seed: 42 });
  sim.route('GET', '/items/:id', 'getItem', (req) => ({ status: 200, body: { id: req.params.id } }));
  sim.route('POST', '/upload-tail', 'uploadTail', async (req) => {
    const parts = await parseMultipart(req, { headBytes: 4, tailBytes: 6, keepBytesFor: { meta: 100 } });
    return {
      status: 200,
      body: parts.files.map((f) => ({
        field: f.field,
        head: f.head.toString('latin1'),
        tail: f.tail.toString('latin1'),
        kept: f.bytes?.toString('latin1') ?? null,
      })),
    };
  });
  sim.route('POST', '/upload', 'upload', async (req) => {
    const parts = await parseMultipart(req, { keepBytes: 1024 });
    req.note({ files: parts.files.length });
    return {
      status: 200,
      body: { files: parts.files.map((f) => ({ name: f.filename, size: f.size })), fields: parts.fields },
    };
  });
  sim.route('POST', '/upload-order', 'uploadOrder', async (req) => {
    const parts = await parseMultipart(req);
    return { status: 200, body: { order: parts.order, md5: parts.files[0]?.md5 } };
  });
  let base = '';
  before(async () => {
    base = await sim.start();
  });
  after(() => sim.stop());
  beforeEach(() => sim.reset());

  it('binds loopback on an ephemeral port and routes with params', async () => {
    assert.match(base, /^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await request(`${base}/items/a%20b`);
    assert.equal(res.statusCode, 200);
    assert.deepEqual(await res.body.json(), { id: 'a b' });
    assert.equal(sim.requestsTo('getItem').length, 1);
  });

  it('answers 404 for unknown routes and records them', async () => {
    const res = await request(`${base}/nope`);
    assert.equal(res.statusCode, 404);
    await res.body.dump();
    assert.equal(sim.requests[0]?.outcome, 'not-found');
  });

  it('streams multipart parts and measures files', async () => {
    const form = new FormData();
    form.append('file', new Blob([Buffer.alloc(5000, 1)]), 'a.jpg');
    form.append('data', '{"x":1}');
    const res = await request(`${base}/upload`, { method: 'POST', body: form });
    const body = (await res.body.json()) as {
      files: Array<{ size: number; name: string }>;
      fields: Array<{ name: string }>;
    };
    assert.deepEqual(body.files, [{ name: 'a.jpg', size: 5000 }]);
    assert.equal(body.fields[0]?.name, 'data');
    assert.equal(sim.requests[0]?.details.files, 1);
  });

  it('reports multipart parts in arrival order, with an md5 per file', async () => {
    const form = new FormData();
    form.append('key', 'k');
    form.append('file', new Blob([Buffer.from('hello')]), 'a.txt');
    form.append('acl', 'private');
    const res = await request(`${base}/upload-order`, { method: 'POST', body: form });
    assert.deepEqual(await res.body.json(), {
      order: [
        { kind: 'field', name: 'key' },
        { kind: 'file', name: 'file' },
        { kind: 'field', name: 'acl' },
      ],
      md5: '5d41402abc4b2a76b9719d911017c592',
    });
  });

  it('keeps the tail of file parts and per-field kept bytes when asked', async () => {
    const big = Buffer.from(`HEAD${'x'.repeat(200_000)}TAIL-1`, 'latin1');
    const form = new FormData();
    form.append('file', new Blob([big]), 'a.mp4');
    form.append('meta', new Blob(['{"k":1}']), 'meta.json');
    const res = await request(`${base}/upload-tail`, { method: 'POST', body: form });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(await res.body.json(), [
      { field: 'file', head: 'HEAD', tail: 'TAIL-1', kept: null },
      { field: 'meta', head: '{"k"', tail: '{"k":1}'.slice(-6), kept: '{"k":1}' },
    ]);
  });

  it('plays scripted faults in order, then answers normally', async () => {
    sim.faults.enqueue({ route: 'getItem', status: 503, times: 2, headers: { 'retry-after': '1' } });
    const codes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await request(`${base}/items/x`);
      codes.push(res.statusCode);
      await res.body.dump();
    }
    assert.deepEqual(codes, [503, 503, 200]);
  });

  it('resets connections on demand', async () => {
    sim.faults.enqueue({ reset: true });
    await assert.rejects(request(`${base}/items/x`));
    assert.equal(sim.requests[0]?.outcome, 'fault-reset');
  });

  it('resets the connection part-way through an upload', async () => {
    sim.faults.enqueue({ route: 'upload', resetAfterBytes: 10_000 });
    const form = new FormData();
    form.append('file', new Blob([Buffer.alloc(2_000_000, 1)]), 'a.jpg');
    await assert.rejects(request(`${base}/upload`, { method: 'POST', body: form }));
    assert.equal(sim.requests[0]?.outcome, 'fault-reset');
  });

  it('loses an answer after the route ran (the vendor acted, the client hears nothing)', async () => {
    sim.faults.enqueue({ route: 'upload', loseAnswer: true });
    const form = new FormData();
    form.append('file', new Blob([Buffer.alloc(50_000, 1)]), 'a.jpg');
    await assert.rejects(request(`${base}/upload`, { method: 'POST', body: form }));
    const [rec] = sim.requestsTo('upload');
    assert.equal(rec?.outcome, 'fault-lost-answer');
    assert.equal(rec?.status, 200);
    assert.equal(rec?.details.files, 1, 'the route read the whole request and ran');
    const again = await request(`${base}/upload`, { method: 'POST', body: form });
    assert.equal(again.statusCode, 200, 'only the next matching request loses its answer');
    await again.body.dump();
  });

  it('sets faults and reads the log through the inspection API', async () => {
    const put = await request(`${base}/__sim/faults`, {
      method: 'PUT',
      body: JSON.stringify({ rules: [{ routes: ['getItem'], statusRates: { 500: 1 } }] }),
    });
    assert.equal(put.statusCode, 200);
    await put.body.dump();
    const res = await request(`${base}/items/1`);
    assert.equal(res.statusCode, 500);
    await res.body.dump();
    const log = (await (await request(`${base}/__sim/requests?route=getItem`)).body.json()) as unknown[];
    assert.equal(log.length, 1);
  });

  it('redacts credential headers in the log', async () => {
    const res = await request(`${base}/items/1`, { headers: { authorization: 'Bearer very-secret-token' } });
    await res.body.dump();
    assert.doesNotMatch(JSON.stringify(sim.requests), /very-secret-token/);
  });
});

describe('Simulator.listenAlso', () => {
  it('answers on a second address with the same routes and log, and stop() closes both', async () => {
    const sim = new Simulator('alias');
    sim.route('GET', '/ping', 'ping', () => ({ status: 200, body: 'pong' }));
    await assert.rejects(sim.listenAlso({ port: 0 }), /not started/);
    const main = await sim.start();
    const alias = await sim.listenAlso({ host: '127.0.0.1', port: 0 });
    assert.notEqual(alias, main);
    assert.deepEqual(sim.aliasUrls, [alias]);
    for (const url of [main, alias]) {
      const res = await request(`${url}/ping`);
      assert.equal(await res.body.text(), 'pong');
    }
    assert.equal(sim.requestsTo('ping').length, 2);
    await sim.stop();
    await assert.rejects(request(`${alias}/ping`), /ECONNREFUSED/);
    assert.deepEqual(sim.aliasUrls, []);
  });

  it('binds loopback addresses only', async () => {
    assert.equal(isLoopbackAddress('127.0.0.2'), true);
    assert.equal(isLoopbackAddress('::1'), true);
    assert.equal(isLoopbackAddress('0.0.0.0'), false);
    assert.equal(isLoopbackAddress('192.168.1.2'), false);
    await assert.rejects(new Simulator('wide').start({ host: '0.0.0.0' }), /not a loopback address/);
  });
});

describe('Rng', () => {
  it('is deterministic per seed', () => {
    const a = new Rng(7);
    const b = new Rng(7);
    assert.equal(a.id(12), b.id(12));
    assert.notEqual(new Rng(8).id(12), new Rng(7).id(12));
  });
});

describe('TokenBucket', () => {
  it('allows the burst, then refills at the rate', () => {
    let t = 0;
    const bucket = new TokenBucket(50, 5, () => t);
    let ok = 0;
    for (let i = 0; i < 60; i++) if (bucket.take()) ok++;
    assert.equal(ok, 50);
    t += 1000;
    ok = 0;
    for (let i = 0; i < 10; i++) if (bucket.take()) ok++;
    assert.equal(ok, 5);
  });
});
