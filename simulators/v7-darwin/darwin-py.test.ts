import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { request } from 'undici';
import type { ReceivedRequest } from '../framework/index.ts';
import { serve } from './serve.ts';
import {
  baseOptions,
  call,
  type ErrorOut,
  type Json,
  localFile,
  OTHER_KEY,
  registerBody,
  signedUrl,
  started,
  uploadIdOf,
} from './testing.ts';

/**
 * What darwin-py 3.5.3 needs from V7 and did not get from the simulator when it was driven by hand (README
 * "darwin-py against the simulator"): the three lookups it makes before any upload, and S3's answer to a PUT
 * whose body never arrives.
 */

const clock = () => 1_700_000_000_000;

/** One raw HTTP/1.1 exchange: writes `head` and `body`, then reads until the server closes the connection. */
function rawExchange(base: string, head: string, body = ''): Promise<{ status: number; text: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(`${head}\r\n\r\n${body}`));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text });
    });
  });
}

describe('V7 Darwin simulator — the lookups darwin-py makes before uploading', () => {
  const ARCHIVE = {
    name: 'acme-archive',
    readonly: true,
    provider: 'gcp',
    bucket: 'acme-cold',
    prefix: 'v7',
    region: 'europe-west4',
    default: true,
  };
  const options = () => {
    const opts = baseOptions(clock);
    opts.teams.acme = {
      datasets: ['line-1', 'line-2'],
      storages: ['acme-bucket', ARCHIVE],
      tags: ['defect'],
    };
    return opts;
  };

  it('GET /api/users/token_info names the key’s team (darwin-py’s login)', async (t) => {
    const [, base] = await started(t, options());
    const info = await call(base, 'GET', '/api/users/token_info');
    assert.equal(info.status, 200);
    assert.deepEqual(info.json(), { selected_team: { slug: 'acme' } });
    const other = await call(base, 'GET', '/api/users/token_info', { key: OTHER_KEY });
    assert.deepEqual(other.json(), { selected_team: { slug: 'globex' } });
    const anonymous = await call(base, 'GET', '/api/users/token_info', { key: null });
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.json<ErrorOut>().errors.code, 'NOT_AUTHENTICATED');
  });

  it('GET /api/datasets lists the key’s team’s datasets with id, name, slug, num_items, progress', async (t) => {
    const [, base] = await started(t, options());
    const reg = await call(base, 'POST', '/api/v2/teams/acme/items/register_upload', {
      body: registerBody('line-2', [
        localFile('a.jpg'),
        localFile('b.jpg'),
        localFile('c.jpg', '/', { tags: ['x'] }),
      ]),
    });
    assert.equal(reg.status, 200);
    // darwin-py requests `/api/datasets` (its urljoin drops the trailing slash it writes).
    const list = await call(base, 'GET', '/api/datasets');
    assert.equal(list.status, 200);
    assert.deepEqual(list.json(), [
      { id: 1, name: 'line-1', slug: 'line-1', num_items: 0, progress: 0 },
      { id: 2, name: 'line-2', slug: 'line-2', num_items: 2, progress: 0 },
    ]);
    const theirs = await call(base, 'GET', '/api/datasets/', { key: OTHER_KEY });
    assert.deepEqual(theirs.json(), [{ id: 3, name: 'theirs', slug: 'theirs', num_items: 0, progress: 0 }]);
    assert.equal((await call(base, 'GET', '/api/datasets', { key: 'not-a-key' })).status, 401);
  });

  it('GET /api/teams/{team}/storage lists the connections; 404 for an unknown or foreign team', async (t) => {
    const [, base] = await started(t, options());
    const list = await call(base, 'GET', '/api/teams/acme/storage');
    assert.equal(list.status, 200);
    assert.deepEqual(list.json(), [
      {
        name: 'acme-bucket',
        readonly: false,
        provider: 'aws',
        bucket: 'acme-bucket',
        prefix: '',
        region: null,
        default: false,
      },
      ARCHIVE,
    ]);
    const none = await call(base, 'GET', '/api/teams/globex/storage', { key: OTHER_KEY });
    assert.deepEqual(none.json(), []);
    const unknown = await call(base, 'GET', '/api/teams/nobody/storage');
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.json(), { errors: { code: 'NOT_FOUND', message: 'team not found' } });
    assert.equal((await call(base, 'GET', '/api/teams/globex/storage')).status, 404);
  });

  it('the first storage is the default when none says so', async (t) => {
    const [, base] = await started(t, baseOptions(clock));
    const list = await call(base, 'GET', '/api/teams/acme/storage');
    assert.deepEqual(
      list.json<Json[]>().map((s) => [s.name, s.default]),
      [['acme-bucket', true]],
    );
  });

  it('refuses register_existing (read-write) on a read-only storage with 422; read-only registration works', async (t) => {
    const [sim, base] = await started(t, options());
    const rw = await call(base, 'POST', '/api/v2/teams/acme/items/register_existing', {
      body: {
        dataset_slug: 'line-1',
        storage_slug: 'acme-archive',
        items: [{ path: '/', type: 'image', storage_key: 'a/1.jpg', name: '1.jpg' }],
      },
    });
    assert.equal(rw.status, 422);
    assert.deepEqual(rw.json(), {
      errors: {
        code: 'INVALID_REQUEST',
        storage_slug: ['is a read-only storage: use register_existing_readonly'],
      },
    });
    assert.equal(sim.items('acme', 'line-1').length, 0);
    const slot = {
      slot_name: '0',
      file_name: '1.jpg',
      storage_key: 'a/1.jpg',
      width: 64,
      height: 48,
      storage_thumbnail_key: 'a/1.thumb.jpg',
    };
    const ro = await call(base, 'POST', '/api/v2/teams/acme/items/register_existing_readonly', {
      body: {
        dataset_slug: 'line-1',
        storage_slug: 'acme-archive',
        items: [{ name: '1.jpg', path: '/', slots: [slot] }],
      },
    });
    assert.equal(ro.status, 200);
    assert.equal(sim.items('acme', 'line-1')[0]?.status, 'complete');
  });
});

describe('V7 Darwin simulator — a presigned PUT whose body stops arriving', () => {
  const IDLE_MS = 200;

  async function signed(t: Parameters<typeof started>[0]) {
    const [sim, base] = await started(t, baseOptions(clock, { s3IdleTimeoutMs: IDLE_MS }));
    const reg = await call(base, 'POST', '/api/v2/teams/acme/items/register_upload', {
      body: registerBody('line-1', [localFile('part.jpg')]),
    });
    const uploadId = uploadIdOf(reg);
    const url = new URL(await signedUrl(base, 'acme', uploadId));
    const head = (length: number) =>
      `PUT ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Length: ${length}`;
    return { sim, base, uploadId, url, head };
  }

  async function recorded(base: string): Promise<ReceivedRequest[]> {
    const res = await request(`${base}/__sim/requests?route=s3Put`);
    return (await res.body.json()) as ReceivedRequest[];
  }

  it('darwin-py’s retry after a 503 (Content-Length, no body) gets S3’s 400 RequestTimeout, recorded', async (t) => {
    const { sim, base, uploadId, url, head } = await signed(t);
    sim.injectS3SlowDown(1);
    const first = await request(url, { method: 'PUT', body: Buffer.alloc(1000, 1) });
    assert.equal(first.statusCode, 503);
    await first.body.dump();

    // The file stream was consumed by the first attempt: the retry declares 1000 bytes and sends none.
    const retry = await rawExchange(base, head(1000));
    assert.equal(retry.status, 400);
    assert.match(retry.text, /\r\ncontent-type: application\/xml\r\n/i);
    assert.match(retry.text, /\r\nconnection: close\r\n/i);
    assert.match(
      retry.text,
      /<Error><Code>RequestTimeout<\/Code><Message>Your socket connection to the server was not read from or written to within the timeout period\. Idle connections will be closed\.<\/Message><RequestId>[0-9A-F]+<\/RequestId><\/Error>/,
    );
    assert.equal(sim.upload(uploadId)?.slot.status, 'awaiting_upload');
    assert.equal(sim.upload(uploadId)?.slot.upload_count, 0);

    const log = await recorded(base);
    assert.deepEqual(
      log.map((r) => [r.status, r.outcome]),
      [
        [503, 'fault-status'],
        [400, 'answered'],
      ],
    );
    assert.deepEqual(log[1]?.details, {
      uploadId,
      receivedBytes: 0,
      requestTimeout: true,
      declaredBytes: 1000,
      idleTimeoutMs: IDLE_MS,
    });

    // A complete PUT on the same URL still works afterwards.
    const ok = await request(url, { method: 'PUT', body: Buffer.alloc(1000, 1) });
    assert.equal(ok.statusCode, 200);
    await ok.body.dump();
    assert.equal(sim.upload(uploadId)?.slot.status, 'uploaded');
  });

  it('a body that stops half way is refused the same way and nothing is stored', async (t) => {
    const { sim, base, uploadId, head } = await signed(t);
    const res = await rawExchange(base, head(10), 'abcd');
    assert.equal(res.status, 400);
    assert.match(res.text, /<Code>RequestTimeout<\/Code>/);
    assert.equal(sim.upload(uploadId)?.slot.size, undefined);
    const log = await recorded(base);
    assert.equal(log[0]?.details.receivedBytes, 4);
    assert.equal(log[0]?.details.declaredBytes, 10);
    assert.equal(sim.stats().totals.bytesPut, 4);
  });

  it('an expired URL without its body is answered after the idle time, not never', async (t) => {
    const { sim, base, head } = await signed(t);
    sim.expireSignedUrls();
    const res = await rawExchange(base, head(10));
    assert.equal(res.status, 400);
    assert.match(res.text, /<Code>RequestTimeout<\/Code>/);
    const full = await rawExchange(base, `${head(3)}\r\nConnection: close`, 'abc');
    assert.equal(full.status, 403);
    assert.match(full.text, /<Message>Request has expired<\/Message>/);
  });
});

describe('V7 Darwin simulator — serve.ts, the stand-alone server darwin-py was driven against', () => {
  it('serves SERVE_DEFAULTS: a key in darwin-py’s shape, two datasets, a read-write and a read-only storage', async (t) => {
    const lines: string[] = [];
    const sim = await serve(['--port', '0'], (line) => lines.push(line));
    t.after(() => sim.stop());
    const printed = JSON.parse(lines.join('')) as { url: string; darwinBaseUrl: string; apiKeys: string[] };
    assert.equal(printed.darwinBaseUrl, printed.url);
    const key = printed.apiKeys[0] ?? '';
    // darwin-py's `darwin authenticate` wants 40 characters with a 7-character prefix before a dot.
    assert.match(key, /^[A-Za-z0-9]{7}\.[^.]{32}$/);
    const info = await call(printed.url, 'GET', '/api/users/token_info', { key });
    assert.deepEqual(info.json(), { selected_team: { slug: 'acme' } });
    const datasets = await call(printed.url, 'GET', '/api/datasets', { key });
    assert.deepEqual(
      datasets.json<Json[]>().map((d) => d.slug),
      ['line-1', 'line-2'],
    );
    const storages = await call(printed.url, 'GET', '/api/teams/acme/storage', { key });
    assert.deepEqual(
      storages.json<Json[]>().map((s) => [s.name, s.readonly, s.default]),
      [
        ['acme-bucket', false, true],
        ['acme-readonly', true, false],
      ],
    );
  });
});
