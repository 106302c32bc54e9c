import assert from 'node:assert/strict';
import { type AddressInfo, createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { FormData, request } from 'undici';
import {
  EdgeImpulseSimulator,
  type EdgeImpulseStudioSimulator,
  OFFICIAL_CLI_HOST,
  OFFICIAL_CLI_INGESTION_PORT,
  OFFICIAL_CLI_STUDIO_PORT,
  serveForOfficialCli,
} from './index.ts';

// Fake credentials, never shaped like real keys.
const KEY = 'ei_test_key_local';
const KEY_P2 = 'ei_sim_key_project_2';
const HMAC = 'sim-hmac-key-1';

const sim = new EdgeImpulseSimulator({
  seed: 3,
  apiKeys: { [KEY]: { projectId: 1 }, [KEY_P2]: { projectId: 2 } },
  hmacKeys: { 1: HMAC },
});
let studio: EdgeImpulseStudioSimulator;
let studioUrl = '';
let ingestionUrl = '';
before(async () => {
  await sim.start();
  // The uploader needs <host>:4810 and :4800; tests take ephemeral ports on 127.0.0.1 so that they never
  // collide with a running `npm start`.
  const cli = await serveForOfficialCli(sim, {
    host: '127.0.0.1',
    ingestionPort: 0,
    studioPort: 0,
    projects: { 1: { name: 'Line 1 defects', owner: 'Demo Factory', labelingMethod: 'object_detection' } },
  });
  studio = cli.studio;
  studioUrl = cli.studioUrl;
  ingestionUrl = cli.ingestionUrl;
});
after(async () => {
  await studio.stop();
  await sim.stop();
});

/** Binds `port` (0: any) on 127.0.0.1, closes it again and answers the port: it was free. */
async function freePort(port = 0): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return bound;
}

async function get(path: string, key?: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await request(`${studioUrl}${path}`, {
    headers: key === undefined ? {} : { 'x-api-key': key, 'user-agent': 'EDGE_IMPULSE_CLI' },
  });
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}

describe('Studio API routes the official uploader calls', () => {
  it('defaults to where the uploader looks when EI_HOST is 127.0.0.2', () => {
    assert.deepEqual(
      [OFFICIAL_CLI_HOST, OFFICIAL_CLI_INGESTION_PORT, OFFICIAL_CLI_STUDIO_PORT],
      ['127.0.0.2', 4810, 4800],
    );
  });

  it('lists only the project of the API key, with the OpenAPI Project fields', async () => {
    const { status, body } = await get('/v1/api/projects', KEY);
    assert.equal(status, 200);
    assert.equal(body.success, true);
    const projects = body.projects as Array<Record<string, unknown>>;
    assert.deepEqual(
      projects.map((p) => [p.id, p.name, p.owner, p.labelingMethod, p.whitelabelId]),
      [[1, 'Line 1 defects', 'Demo Factory', 'object_detection', null]],
    );
    for (const field of [
      'description',
      'created',
      'collaborators',
      'metadata',
      'isEnterpriseProject',
      'tier',
      'hasPublicVersion',
      'isPublic',
      'allowsLivePublicAccess',
      'ownerIsDeveloperProfile',
      'indPauseProcessingSamples',
      'publicProjectListed',
    ]) {
      assert.ok(field in (projects[0] ?? {}), field);
    }
    const other = await get('/v1/api/projects', KEY_P2);
    assert.deepEqual(
      (other.body.projects as Array<Record<string, unknown>>).map((p) => [p.id, p.name]),
      [[2, 'Simulated project 2']],
    );
  });

  it('answers project info from what the ingestion simulator holds', async () => {
    const fd = new FormData();
    fd.append('data', new Blob([Buffer.from([0xff, 0xd8, 0xff, 1])]), 'scratch.01.jpg');
    const up = await request(`${ingestionUrl}/api/training/files`, {
      method: 'POST',
      headers: { 'x-api-key': KEY },
      body: fd,
    });
    assert.equal(up.statusCode, 200);
    await up.body.dump();
    const { status, body } = await get('/v1/api/1', KEY);
    assert.equal(status, 200);
    assert.equal(body.success, true);
    assert.equal((body.project as Record<string, unknown>).name, 'Line 1 defects');
    assert.deepEqual(body.dataSummary, { totalLengthMs: 0, labels: ['scratch'], dataCount: 1 });
    assert.deepEqual(body.developmentKeys, {});
    assert.equal(body.studioUrl, `${studioUrl}/studio/1`);
    assert.equal('csvImportConfig' in body, false, 'no CSV wizard: the uploader keeps CSV under 100 MiB');
  });

  it("answers the project's HMAC key as its development key, or none", async () => {
    assert.deepEqual((await get('/v1/api/1/devkeys/hmac', KEY)).body, { success: true, hmacKey: HMAC });
    assert.deepEqual((await get('/v1/api/2/devkeys/hmac', KEY_P2)).body, { success: true });
  });

  it('refuses a missing or unknown key with 401 on every /v1 path, another project with 403', async () => {
    for (const path of ['/v1/api/projects', '/v1/api/1', '/v1/api/organizations']) {
      assert.deepEqual(await get(path), {
        status: 401,
        body: { success: false, error: 'Missing x-api-key header' },
      });
      assert.deepEqual(await get(path, 'ei_not_a_key'), {
        status: 401,
        body: { success: false, error: 'Invalid API key' },
      });
    }
    assert.deepEqual(await get('/v1/api/2', KEY), {
      status: 403,
      body: { success: false, error: 'This API key has no access to project 2' },
    });
    assert.deepEqual(await get('/v1/api/organizations', KEY), {
      status: 404,
      body: {
        success: false,
        error: "Not simulated: GET /v1/api/organizations (only the uploader's Studio routes are)",
      },
    });
  });

  it('logs its requests in its own /__sim/requests, without the key', async () => {
    await get('/v1/api/projects', KEY);
    const res = await request(`${studioUrl}/__sim/requests?route=studioListProjects`);
    const log = (await res.body.json()) as Array<{ headers: Record<string, string>; details: unknown }>;
    assert.ok(log.length > 0);
    assert.doesNotMatch(JSON.stringify(log), new RegExp(KEY));
    assert.deepEqual(log.at(-1)?.details, { projectId: 1 });
  });

  it('leaves nothing listening when the ingestion address cannot be bound', async () => {
    const studioPort = await freePort();
    const taken = Number(new URL(ingestionUrl).port);
    await assert.rejects(
      serveForOfficialCli(sim, { host: '127.0.0.1', ingestionPort: taken, studioPort }),
      /EADDRINUSE/,
    );
    assert.equal(await freePort(studioPort), studioPort, 'the Studio server it had started is closed again');
    assert.deepEqual(sim.aliasUrls, [ingestionUrl]);
  });
});
