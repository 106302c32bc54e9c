/**
 * Which config the handlers use after a deploy (lambdas/domain/config/precedence.ts, applied by
 * lambdas/handlers/runtime.ts): a deploy that changes the baked config wins over the versions saved through the
 * ops API; a deploy that does not (code only) keeps the newest saved one. Each "deploy" is a runtime of its own
 * over one in-memory config store, saves go through the ops API's own saveConfig, and refreshConfig gets an
 * injected clock that is always past the refresh interval.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StatusTable } from '#adapters/dynamodb.ts';
import { createLogger } from '#commons/logger.ts';
import { configHash } from '#domain/config/precedence.ts';
import type { RelayConfig } from '#domain/config/types.ts';
import { getConfig, saveConfig } from '#domain/ops/config.ts';
import type { ConfigVersion, OpsDeps, OpsRequest } from '#domain/ops/types.ts';
import { configInUse, type Runtime, refreshConfig, useConfig } from '#handlers/runtime.ts';
import { VENDORS } from '#vendors/registry.ts';
import { instrumentalTransmit, testConfig } from '../e2e/harness.ts';

const quiet = createLogger({}, { sink: () => {} });

/** The config versions of one status table (what lambdas/adapters/dynamodb.ts stores under `config`). */
class ConfigStore {
  readonly versions: ConfigVersion[] = [];
  async latestConfig(): Promise<ConfigVersion | undefined> {
    return this.versions.at(-1);
  }
  async configVersion(version: number): Promise<ConfigVersion | undefined> {
    return this.versions.find((v) => v.version === version);
  }
  async putConfigVersion(v: ConfigVersion): Promise<boolean> {
    if (this.versions.some((x) => x.version === v.version)) return false;
    this.versions.push(v);
    return true;
  }
}

/** A deployed config: an Instrumental destination whose station name says which one it is. */
function configNamed(station: string): RelayConfig {
  const inst = instrumentalTransmit('inst', 'http://127.0.0.1:9', 'relay-tests/instrumental');
  return testConfig([{ ...inst, fields: { ...inst.fields, stationName: station } }]);
}
const stationOf = (c: RelayConfig) =>
  (c.data_transmit[0]?.fields as { stationName?: string } | undefined)?.stationName;

/** One Lambda instance of a deploy whose bundle has `baked`, on the shared store (as runtime() builds it). */
function deploy(baked: RelayConfig, store: ConfigStore): Runtime {
  const config = JSON.parse(JSON.stringify(baked)) as RelayConfig;
  return {
    config,
    configVersion: { version: 0 },
    baked: { config, hash: configHash(config) },
    vendors: VENDORS,
    table: store as unknown as StatusTable,
    log: quiet,
    instanceId: 'test',
  } as unknown as Runtime;
}

/** The ops API of that instance (lambdas/handlers/ops.ts wires the same functions). */
function opsOf(rt: Runtime, baked: RelayConfig): OpsDeps {
  return {
    config: () => configInUse(rt),
    vendors: rt.vendors,
    table: rt.table,
    vendorQueues: [{ name: 'instrumental', vendor: 'instrumental', url: 'q', dlqUrl: 'dlq' }],
    log: quiet,
    now: () => Date.parse('2026-01-05T12:00:00Z'),
    configSaved: (v: ConfigVersion) => useConfig(rt, v),
    bakedConfigText: () => JSON.stringify(baked),
  } as unknown as OpsDeps;
}

const post = (body: unknown): OpsRequest => ({
  method: 'POST',
  routeKey: 'POST /v1/config',
  path: {},
  query: {},
  body: JSON.stringify(body),
  contentType: 'application/json',
  by: 'local:tester',
});
const GET: OpsRequest = {
  method: 'GET',
  routeKey: 'GET /v1/config',
  path: {},
  query: {},
  by: 'local:tester',
};

/** Always past RELAY_CONFIG_REFRESH_SECONDS since the previous check: each refresh reads the store. */
let clock = 0;
function refresh(rt: Runtime): Promise<void> {
  clock += 3_600_000;
  return refreshConfig(rt, clock);
}

async function save(rt: Runtime, baked: RelayConfig, body: unknown): Promise<number> {
  const r = await saveConfig(post(body), opsOf(rt, baked));
  assert.equal(r.body.success, true, JSON.stringify(r.body));
  return (r.body.response as { version: number }).version;
}

async function shown(rt: Runtime, baked: RelayConfig): Promise<Record<string, unknown>> {
  return (await getConfig(GET, opsOf(rt, baked))).body.response as Record<string, unknown>;
}

/** Version 1 saved on a deploy of config x, then a deploy of config y (one instance, refreshed once). */
async function savedThenRedeployed() {
  const store = new ConfigStore();
  const x = configNamed('baked-x');
  await save(deploy(x, store), x, configNamed('saved-s'));
  const y = configNamed('baked-y');
  const changed = deploy(y, store);
  await refresh(changed);
  return { store, x, y, changed };
}

describe('config precedence: baked at deploy vs saved through the ops API', () => {
  it('a code-only deploy (same baked config) keeps the newest saved version', async () => {
    const store = new ConfigStore();
    const x = configNamed('baked-x');
    const first = deploy(x, store);
    assert.equal(await save(first, x, configNamed('saved-s')), 1);
    assert.equal(stationOf(first.config), 'saved-s', 'the saving instance uses it at once');
    assert.equal(store.versions[0]?.baseHash, configHash(x), 'the save records the baked config it was on');

    // Same config, its keys in another order (another build's loader): the same deploy identity.
    const reordered = Object.fromEntries(Object.entries(x).reverse()) as unknown as RelayConfig;
    const next = deploy(reordered, store);
    await refresh(next);
    assert.equal(stationOf(next.config), 'saved-s');
    const view = await shown(next, reordered);
    assert.equal(view.source, 'store');
    assert.equal(view.version, 1);
    assert.equal(view.baseHash, view.bakedHash);
    assert.equal(view.supersededByDeploy, false);
  });

  it('a deploy that changes the baked config wins; the saved versions stay in history', async () => {
    const { store, y, changed } = await savedThenRedeployed();
    assert.equal(stationOf(changed.config), 'baked-y', 'the new deploy config is in use');
    assert.equal(changed.configVersion.version, 0);
    const view = await shown(changed, y);
    assert.equal(view.source, 'baked');
    assert.equal(view.version, 0);
    assert.equal(view.bakedHash, configHash(y));
    assert.equal(view.supersededByDeploy, true);
    assert.equal(view.latestSavedVersion, 1);
    assert.match(String(view.note), /rollback/);
    assert.equal(store.versions.length, 1, 'nothing was deleted');
    await refresh(changed);
    assert.equal(stationOf(changed.config), 'baked-y', 'and stays so');
  });

  it('a rollback to a saved version after such a deploy saves it on top of the new deploy, so it applies', async () => {
    const { store, x, y, changed } = await savedThenRedeployed();

    assert.equal(await save(changed, y, { rollback: 1 }), 2);
    assert.equal(store.versions[1]?.baseHash, configHash(y));
    assert.equal(stationOf(changed.config), 'saved-s', 'the saving instance uses it at once');
    const other = deploy(y, store);
    await refresh(other);
    assert.equal(
      stationOf(other.config),
      'saved-s',
      'every other instance of the deploy at its next refresh',
    );
    const view = await shown(other, y);
    assert.equal(view.source, 'store');
    assert.equal(view.version, 2);
    assert.equal(view.supersededByDeploy, false);

    // A later deploy that goes back to the first config: that config wins again (v2 was saved on y).
    const back = deploy(x, store);
    await refresh(back);
    assert.equal(stationOf(back.config), 'baked-x');
  });

  it('a version saved before versions recorded their deploy (no baseHash) is not used', async () => {
    const store = new ConfigStore();
    const legacy = configNamed('legacy');
    await store.putConfigVersion({
      version: 1,
      savedAt: '2026-01-01T00:00:00.000Z',
      by: 'local:old',
      text: JSON.stringify(legacy),
      json: JSON.stringify(legacy),
    });
    const x = configNamed('baked-x');
    const rt = deploy(x, store);
    await refresh(rt);
    assert.equal(stationOf(rt.config), 'baked-x');
    const view = await shown(rt, x);
    assert.equal(view.supersededByDeploy, true);
    assert.match(String(view.note), /recorded no baseHash/);
    // Rolled back to, it is saved on this deploy and applies.
    await save(rt, x, { rollback: 1 });
    const next = deploy(x, store);
    await refresh(next);
    assert.equal(stationOf(next.config), 'legacy');
  });

  it('a stale read of an older version than one seen is ignored', async () => {
    const store = new ConfigStore();
    const x = configNamed('baked-x');
    const rt = deploy(x, store);
    await save(rt, x, configNamed('saved-1'));
    await save(rt, x, configNamed('saved-2'));
    assert.equal(stationOf(rt.config), 'saved-2');
    useConfig(rt, store.versions[0] as ConfigVersion);
    assert.equal(stationOf(rt.config), 'saved-2');
  });
});
