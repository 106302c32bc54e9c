/**
 * The ops API through the local stack's HTTP API (the same handler as on AWS): the envelope and error codes,
 * where-is by serial (routed, rejected, unrouted), a delivery's history, stop holds without spending attempts
 * and start resumes, restream of a time range once per request id, dead letters and a recorded redrive, config
 * validate / save (used by the next delivery without a restart) / invalid refused, templates, the log stream.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { stringify as toYaml } from 'yaml';
import { main } from '#cli/main.ts';
import { makeJpeg } from '#simulators/media/index.ts';
import { type Harness, instrumentalTransmit, startHarness, testConfig } from './harness.ts';

const SLOW = { timeout: 300_000 };
let h: Harness;
let simUrl = '';

before(async () => {
  h = await startHarness({
    relay: { pause_probe_seconds: 1 },
    transmits: (url) => {
      simUrl = url;
      return [instrumentalTransmit('inst', url, 'relay-tests/instrumental')];
    },
    stack: { env: { RELAY_CONFIG_REFRESH_SECONDS: '1' } },
  });
});
after(async () => {
  await h?.stop();
});

interface Env<T = Record<string, unknown>> {
  success: boolean;
  response: T;
  error: { code: string; text: string } | null;
}

async function api<T = Record<string, unknown>>(
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<{ status: number; body: Env<T> }> {
  const res = await fetch(`${h.stack.apiUrl}${path}`, {
    method,
    headers: { 'content-type': contentType, 'x-relay-user': 'tester' },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Env<T> };
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await fn();
    if (v !== undefined) return v;
    await sleep(200);
  }
  throw new Error(`timed out: ${what}`);
}

type Item = {
  id: string;
  status: string;
  key: string;
  destination?: string;
  restreamOf?: string;
  attempts: number;
};
const bySerial = async (serial: string) =>
  (await api<{ items: Item[] }>('GET', `/v1/deliveries?serial=${serial}`)).body.response.items;

/** `relay …` in a folder of its own, speaking to this stack; `env` is the operator's environment. */
function relayCli() {
  const dir = mkdtempSync(join(tmpdir(), 'relay-cli-'));
  const endpoints = join(dir, 'endpoints.json');
  writeFileSync(endpoints, JSON.stringify({ httpApi: h.stack.apiUrl }));
  const run = async (env: Record<string, string>, ...args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main([...args, '--endpoints-file', endpoints], {
      out: (t) => out.push(t),
      err: (t) => err.push(t),
      cwd: dir,
      env,
    });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };
  return { dir, run };
}

describe('ops API', () => {
  it('answers in the envelope with error codes', SLOW, async () => {
    const bad = await api('GET', '/v1/deliveries');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.success, false);
    assert.equal(bad.body.error?.code, 'INVALID_REQUEST');
    const missing = await api('GET', '/v1/deliveries/bm9wZQ');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error?.code, 'NOT_FOUND');
    const stop = await api('POST', '/v1/destinations/nope/stop');
    assert.equal(stop.body.error?.code, 'NOT_FOUND');
  });

  it('finds a routed, a rejected and an unrouted file by serial, with history', SLOW, async () => {
    const ok = await h.upload('line-1/st1/SN-W1_20260105T081500Z.jpg', makeJpeg());
    const rejected = await h.upload('line-1/st1/SN-W1_20260105T081600Z.jpg', Buffer.from('not a jpeg'));
    const unrouted = await h.upload('line-9/st1/SN-W1_20260105T081700Z.jpg', makeJpeg());
    await h.waitForStatus(ok, ['UPLOADED']);
    await h.waitForStatus(rejected, ['REJECTED']);
    await h.waitForStatus(unrouted, ['UNROUTED']);
    const items = await bySerial('SN-W1');
    const of = (key: string) => items.find((i) => i.key === key);
    assert.equal(of(ok.key)?.status, 'UPLOADED');
    assert.equal(of(rejected.key)?.status, 'REJECTED');
    assert.equal(of(unrouted.key)?.status, 'UNROUTED');
    const detail = await api<{ history: Array<{ status: string }>; lastError?: { code: string } }>(
      'GET',
      `/v1/deliveries/${of(rejected.key)?.id}`,
    );
    assert.equal(detail.body.success, true);
    assert.equal(detail.body.response.lastError?.code, 'NOT_A_JPEG');
    assert.ok(detail.body.response.history.some((e) => e.status === 'REJECTED'));
    const byKey = await api<{ items: Item[] }>('GET', `/v1/deliveries?key=${encodeURIComponent(ok.key)}`);
    assert.equal(byKey.body.response.items[0]?.status, 'UPLOADED');
    const failures = await api<{ items: Item[] }>('GET', '/v1/deliveries?destination=inst&status=REJECTED');
    assert.ok(failures.body.response.items.some((i) => i.key === rejected.key));
  });

  it('stop holds without spending attempts; start resumes', SLOW, async () => {
    const stopped = await api<{ state: string }>('POST', '/v1/destinations/inst/stop');
    assert.equal(stopped.body.response.state, 'stopped');
    const held = await h.upload('line-1/st1/SN-S1_20260105T090000Z.jpg', makeJpeg());
    const rec = await h.waitForStatus(held, ['HELD']);
    assert.equal(rec.attempts ?? 0, 0);
    assert.equal(rec.lastError?.code, 'DESTINATION_STOPPED');
    const started = await api<{ state: string }>('POST', '/v1/destinations/inst/start');
    assert.equal(started.body.response.state, 'running');
    await h.waitForStatus(held, ['UPLOADED']);
  });

  it('restreams a time range once per request id', SLOW, async () => {
    const a = await h.upload('line-1/st2/SN-R1_20260105T100000Z.jpg', makeJpeg());
    await h.waitForStatus(a, ['UPLOADED']);
    const since = new Date(Date.now() + 1000).toISOString();
    await sleep(1500);
    const b = await h.upload('line-1/st2/SN-R2_20260105T100100Z.jpg', makeJpeg());
    await h.waitForStatus(b, ['UPLOADED']);
    const body = {
      requestId: 'rs-1',
      'factory-bucket': [{ asset: 'line-1', stream_type: 'aoi-camera' }],
      since,
    };
    const first = await api<{ matched: number; queued: number; duplicate: boolean }>(
      'POST',
      '/v1/restream',
      body,
    );
    assert.equal(first.status, 202, JSON.stringify(first.body));
    assert.equal(first.body.response.queued, 1);
    assert.equal(first.body.response.duplicate, false);
    const again = await api<{ queued: number; duplicate: boolean }>('POST', '/v1/restream', body);
    assert.equal(again.body.response.duplicate, true);
    const conflict = await api('POST', '/v1/restream', { ...body, since: undefined });
    assert.equal(conflict.status, 409);
    const items = await until('the restream delivered', async () => {
      const all = await bySerial('SN-R2');
      return all.some((i) => i.restreamOf === 'rs-1' && i.status === 'UPLOADED') ? all : undefined;
    });
    assert.equal(items.filter((i) => i.restreamOf === 'rs-1').length, 1);
    assert.equal(items.length, 2, 'the earlier record stays');
    assert.equal((await bySerial('SN-R1')).length, 1, 'an object before the range is not restreamed');
  });

  it('lists dead letters and redrives the selected ones, recorded', SLOW, async () => {
    const q = h.stack.queues.vendors.instrumental;
    assert.ok(q);
    const obj = await h.upload('line-1/st3/SN-D1_20260105T110000Z.jpg', makeJpeg());
    await h.waitForStatus(obj, ['UPLOADED']);
    const [rec] = await h.records(obj);
    assert.ok(rec);
    const message = {
      v: 1,
      pk: rec.pk,
      sk: rec.sk,
      destination: 'inst',
      vendor: 'instrumental',
      object: { bucket: rec.bucket, key: rec.key, etag: rec.etag, size: rec.size, versionId: rec.versionId },
      fields: rec.fields ?? {},
      serialNumber: 'SN-D1',
    };
    await h.stack.clients.sqs.send(
      new SendMessageCommand({ QueueUrl: q.dlq.url, MessageBody: JSON.stringify(message) }),
    );
    const listed = await api<{
      queues: Array<{ queue: string; depth: number; messages: Array<{ messageId: string; key?: string }> }>;
    }>('GET', '/v1/deadletters?queue=instrumental');
    const dq = listed.body.response.queues[0];
    assert.equal(dq?.depth, 1);
    assert.equal(dq?.messages[0]?.key, obj.key);
    const moved = await api<{ moved: number; redriveId: string }>('POST', '/v1/deadletters/redrive', {
      queue: 'instrumental',
      messageIds: [dq?.messages[0]?.messageId],
    });
    assert.equal(moved.status, 202);
    assert.equal(moved.body.response.moved, 1);
    const log = await api<{ redrives: Array<{ redriveId: string; by: string; moved: number }> }>(
      'GET',
      '/v1/deadletters/redrives',
    );
    const r = log.body.response.redrives.find((x) => x.redriveId === moved.body.response.redriveId);
    assert.equal(r?.by, 'local:tester');
    await until('the redriven delivery was sent', async () => {
      const all = await bySerial('SN-D1');
      return all.some((i) => i.restreamOf === moved.body.response.redriveId && i.status === 'UPLOADED')
        ? true
        : undefined;
    });
  });

  it(
    'validates, refuses an invalid config unchanged, saves one used by the next delivery',
    SLOW,
    async () => {
      const current = await api<{ version: number; config: Record<string, unknown> }>('GET', '/v1/config');
      assert.equal(current.body.response.version, 0);
      const invalid = { version: 1, data_receiver: [], data_transmit: 'nope' };
      const v = await api<{ status: string; violations: Array<{ json_path: unknown[]; level: string }> }>(
        'POST',
        '/v1/config/validate',
        invalid,
      );
      assert.equal(v.status, 200);
      assert.equal(v.body.success, false);
      assert.equal(v.body.response.status, 'failed');
      assert.ok(v.body.response.violations.some((x) => x.level === 'error' && Array.isArray(x.json_path)));
      const refused = await api('POST', '/v1/config', invalid);
      assert.equal(refused.status, 400);
      assert.equal(refused.body.error?.code, 'CONFIG_INVALID');
      assert.equal((await api<{ version: number }>('GET', '/v1/config')).body.response.version, 0);

      const next = testConfig(
        [
          instrumentalTransmit('inst', simUrl, 'relay-tests/instrumental', {
            fields: { ...instrumentalTransmit('inst', simUrl, 'x').fields, stationName: 'saved-{station}' },
          }),
        ],
        { pause_probe_seconds: 1 },
      );
      const saved = await api<{ version: number }>('POST', '/v1/config', next);
      assert.equal(saved.status, 200, JSON.stringify(saved.body));
      assert.equal(saved.body.response.version, 1);
      const obj = await h.upload('line-1/st4/SN-C1_20260105T120000Z.jpg', makeJpeg());
      await h.waitForStatus(obj, ['UPLOADED']);
      const [rec] = await h.records(obj);
      assert.equal((rec?.fields as { stationName?: string } | undefined)?.stationName, 'saved-st4');
      const templates = await api<{ templates: Record<string, { transmit_type: string }> }>(
        'GET',
        '/v1/config/templates',
      );
      assert.equal(templates.body.response.templates.instrumental?.transmit_type, 'instrumental');
      assert.equal((await api('GET', '/v1/config/templates/nope')).status, 404);
    },
  );

  it('streams log lines filtered by key', SLOW, async () => {
    const logs = await api<{ lines: unknown[] }>('GET', '/v1/log/stream?limit=10');
    assert.equal(logs.body.success, true);
    assert.ok(Array.isArray(logs.body.response.lines));
  });

  it(
    'answers unknown routes, wrong methods and bad input in the envelope (404, 405, 400)',
    SLOW,
    async () => {
      const unknown = await api('GET', '/v1/nope');
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.success, false);
      assert.equal(unknown.body.error?.code, 'NOT_FOUND');
      const wrongMethod = await api('DELETE', '/v1/config');
      assert.equal(wrongMethod.status, 405);
      assert.equal(wrongMethod.body.error?.code, 'METHOD_NOT_ALLOWED');
      assert.match(wrongMethod.body.error?.text ?? '', /GET or POST/);
      assert.equal((await api('GET', '/v1/deliveries/x/y')).body.error?.code, 'NOT_FOUND');
      for (const next of ['zzz', 'e30', Buffer.from('{"pk":"a","sk":"b"}').toString('base64url')]) {
        const page = await api('GET', `/v1/deliveries?serial=SN-X&next=${next}`);
        assert.equal(page.status, 400, `next=${next}: ${JSON.stringify(page.body)}`);
        assert.equal(page.body.error?.code, 'INVALID_REQUEST');
      }
      const failed = await api('GET', '/v1/deliveries?destination=inst&status=REJECTED&next=e30');
      assert.equal(failed.status, 400);
      const broken = await api('POST', '/v1/config', '{"rollback": 1');
      assert.equal(broken.status, 400, JSON.stringify(broken.body));
      assert.equal(broken.body.error?.code, 'INVALID_REQUEST');
    },
  );

  it('rollback 0 saves the baked config again as the next version', SLOW, async () => {
    const before = await api<{ version: number }>('GET', '/v1/config');
    const rolled = await api<{ version: number }>('POST', '/v1/config', { rollback: 0 });
    assert.equal(rolled.status, 200, JSON.stringify(rolled.body));
    assert.equal(rolled.body.response.version, before.body.response.version + 1);
    assert.equal((await api('POST', '/v1/config', { rollback: -1 })).status, 400);
  });

  it(
    "the API never fills a config's environment references from its own: a secret is neither echoed nor stored",
    SLOW,
    async () => {
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the ${VAR} reference a config names
      const ref = '${AWS_SECRET_ACCESS_KEY}';
      const saved = process.env.AWS_SECRET_ACCESS_KEY;
      const secret = 'ops-api-test-secret-Zq81xv';
      process.env.AWS_SECRET_ACCESS_KEY = secret;
      try {
        const before = await api<{ version: number }>('GET', '/v1/config');
        const named = testConfig(
          [
            instrumentalTransmit('inst', simUrl, 'relay-tests/instrumental', {
              fields: {
                ...instrumentalTransmit('inst', simUrl, 'x').fields,
                stationName: ref,
              },
              filter_stream: [ref],
            }),
          ],
          { pause_probe_seconds: 1 },
        );
        const v = await api<{
          status: string;
          violations: Array<{ description: string; json_path: unknown[] }>;
        }>('POST', '/v1/config/validate', named);
        assert.equal(v.body.response.status, 'failed');
        assert.ok(!JSON.stringify(v.body).includes(secret), JSON.stringify(v.body));
        assert.ok(
          v.body.response.violations.some((x) => /AWS_SECRET_ACCESS_KEY\} is not filled/.test(x.description)),
          JSON.stringify(v.body.response.violations),
        );
        const refused = await api('POST', '/v1/config', named);
        assert.equal(refused.status, 400);
        assert.equal(refused.body.error?.code, 'CONFIG_INVALID');
        assert.ok(!JSON.stringify(refused.body).includes(secret));
        const after = await api<{ version: number }>('GET', '/v1/config');
        assert.equal(after.body.response.version, before.body.response.version, 'nothing stored');
        assert.ok(!JSON.stringify(after.body).includes(secret));
      } finally {
        process.env.AWS_SECRET_ACCESS_KEY = saved;
      }
    },
  );

  it('relay where / stop / start / show speak to the local stack', SLOW, async () => {
    const { run: runIn } = relayCli();
    const run = (...args: string[]) => runIn({}, ...args);
    const where = await run('where', 'SN-W1');
    assert.equal(where.code, 1, 'a failed delivery: exit 1');
    assert.match(where.out, /NOT_A_JPEG/);
    assert.match(where.out, /UNROUTED/);
    const json = await run('where', 'SN-W1', '--json');
    assert.equal((JSON.parse(json.out) as { success: boolean }).success, true);
    assert.equal((await run('stop', 'inst')).out, 'inst: stopped');
    assert.equal((await run('start', 'inst')).out, 'inst: running');
    assert.equal((await run('stop', 'nope')).code, 1);
    assert.equal((await run('where')).code, 2);
  });

  it(
    'relay config validate|save send YAML files as YAML, references filled from the operator environment',
    SLOW,
    async () => {
      const { dir, run } = relayCli();
      // The project's example: read as YAML by the API (its only errors: vendors this test stack has no queue for).
      const example = resolve(dirname(fileURLToPath(import.meta.url)), '../../config/example.yaml');
      const ex = await run({}, 'config', 'validate', example);
      assert.equal(ex.code, 1, ex.out + ex.err);
      const errors = ex.out.split('\n').filter((l) => l.startsWith('error'));
      assert.ok(errors.length > 0, ex.out);
      for (const e of errors) assert.match(e, /has no queue and forwarder in this deployment/, ex.out);

      // A YAML config of this stack, its base_url from the operator's environment.
      const config = testConfig(
        [
          instrumentalTransmit('inst', 'SIM', 'relay-tests/instrumental', {
            fields: { ...instrumentalTransmit('inst', simUrl, 'x').fields, stationName: 'yaml-{station}' },
          }),
        ],
        { pause_probe_seconds: 1 },
      );
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the reference the CLI fills
      const ref = 'base_url: ${SIM_URL}';
      const text = `# saved from YAML\n${toYaml(config).replace('base_url: SIM', ref)}`;
      writeFileSync(join(dir, 'relay.yaml'), text);
      const valid = await run({ SIM_URL: simUrl }, 'config', 'validate', 'relay.yaml');
      assert.equal(valid.code, 0, valid.out + valid.err);
      assert.match(valid.out, /relay.yaml: valid/);
      const before = (await api<{ version: number }>('GET', '/v1/config')).body.response.version;
      const saved = await run({ SIM_URL: simUrl }, 'config', 'save', 'relay.yaml');
      assert.equal(saved.code, 0, saved.out + saved.err);
      assert.match(saved.out, new RegExp(`relay.yaml: saved as version ${before + 1}`));
      const now = await api<{ version: number; config: { data_transmit: Array<{ base_url: string }> } }>(
        'GET',
        '/v1/config',
      );
      assert.equal(now.body.response.version, before + 1);
      assert.equal(now.body.response.config.data_transmit[0]?.base_url, simUrl);

      // Bad YAML: the API's violations, exit 1.
      writeFileSync(join(dir, 'bad.yaml'), 'version: 1\ndata_transmit: [\n  - nope: : :\n');
      const bad = await run({}, 'config', 'validate', 'bad.yaml');
      assert.equal(bad.code, 1);
      assert.match(bad.out, /^error {2} {2}YAML: /m);
      assert.match(bad.out, /bad.yaml: invalid/);
    },
  );
});
