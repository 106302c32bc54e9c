/**
 * Real esbuild bundling (local esbuild, no Docker) of a probe entry: the bundle resolves the `#` imports,
 * runs as ESM on Node 22 with a `require` shim and carries the config inside the code, however large the
 * config (it reaches esbuild through a generated module, never the command line), with an asset hash that
 * follows the config. The relay's own handler bundles are built and loaded by bin.test.ts (one real synth of
 * the whole app).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { App, AssetStaging, Duration, Stack } from 'aws-cdk-lib';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { readBakedConfig } from '../../lambdas/domain/config/baked.ts';
import { loadConfigFile } from '../../lambdas/domain/config/load.ts';
import type { RelayConfig } from '../../lambdas/domain/config/types.ts';
import { VENDORS } from '../../lambdas/vendors/registry.ts';
import { bakeConfigJson, DEFAULT_CONFIG_PATH } from '../../lib/app.ts';
import {
  assertBundlingArgsFit,
  BAKED_CONFIG_IDENTIFIER,
  bakedBundleSettings,
  MAX_BUNDLING_ARGS_BYTES,
} from '../../lib/bundling.ts';
import { RelayFunction } from '../../lib/constructs/relay-function.ts';
import { PROJECT_ROOT } from '../../lib/factory-relay-stack.ts';
import { TEST_ENV } from './fixtures.ts';

const saved = process.env.RELAY_CONFIG_JSON;
after(() => {
  if (saved === undefined) delete process.env.RELAY_CONFIG_JSON;
  else process.env.RELAY_CONFIG_JSON = saved;
});

/** Directory of a function's bundled asset in the synthesized assembly. */
function assetDir(assemblyDir: string, stack: Stack, fn: { node: { defaultChild?: unknown } }): string {
  const code = stack.resolve((fn.node.defaultChild as CfnFunction).code) as { s3Key: string };
  const hash = code.s3Key.replace(/\.zip$/, '');
  return join(assemblyDir, `asset.${hash}`);
}

type Handler = () => Promise<Record<string, string | undefined>>;

/** Synthesizes one probe function (real bundling) baking `configJson`: its asset hash and directory. */
function synthProbe(configJson: string): { hash: string; dir: string; handler: unknown } {
  const app = new App();
  const stack = new Stack(app, 'BundleProbe', { env: TEST_ENV });
  const probe = new RelayFunction(stack, 'Probe', {
    entry: join(PROJECT_ROOT, 'test/cdk/fixtures/bundle-probe.ts'),
    projectRoot: PROJECT_ROOT,
    description: 'probe',
    timeout: Duration.seconds(3),
    memorySize: 128,
    environment: {},
    configJson,
  });
  const dir = assetDir(app.synth().directory, stack, probe.function);
  const handler = stack.resolve((probe.function.node.defaultChild as CfnFunction).handler);
  return { hash: dir.replace(/^.*asset\./, ''), dir, handler };
}

/**
 * config/example.yaml (loaded and validated as synth loads it) with its destinations repeated under new names
 * until there are `count`: every destination written out in full, its InstaVid360 images inlined.
 */
function manyDestinations(count: number): RelayConfig {
  const { config } = loadConfigFile(join(PROJECT_ROOT, DEFAULT_CONFIG_PATH), VENDORS);
  const base = config.data_transmit;
  const data_transmit = Array.from({ length: count }, (_, i) => {
    const t = base[i % base.length] as (typeof base)[number];
    return { ...t, transmit_name: `${t.transmit_name}-${Math.floor(i / base.length) + 1}` };
  });
  return { ...config, data_transmit };
}

describe('bundling', () => {
  it('resolves #imports, bakes the config via inject and define, shims require', async () => {
    const configJson = JSON.stringify({ version: 1, probe: 'bundle-probe-config' });
    const { dir, handler } = synthProbe(configJson);
    const bundle = readFileSync(join(dir, 'index.mjs'), 'utf8');
    assert.ok(existsSync(join(dir, 'index.mjs.map')), 'source map');
    assert.ok(!bundle.includes('#commons/'), 'an unresolved # import is left in the bundle');
    assert.ok(bundle.includes('bundle-probe-config'));
    assert.equal(handler, 'index.handler');

    const mod = (await import(`${pathToFileURL(join(dir, 'index.mjs')).href}?probe`)) as { handler: Handler };
    // The injected config module set the variable on load; change it to tell the two paths apart.
    assert.equal(process.env.RELAY_CONFIG_JSON, configJson);
    process.env.RELAY_CONFIG_JSON = 'changed-after-load';
    assert.deepEqual(await mod.handler(), {
      partitionKey: 'pk',
      defined: configJson, // compiled in by esbuild define: independent of the environment
      viaEnvModule: 'changed-after-load', // read at run time through ENV (the injected module's assignment)
      requireShim: 'function',
      builtin: 'function',
    });
  });

  it('a config of 30 full destinations (~85 KB) bundles: nothing config-sized on the command line', async () => {
    const config = manyDestinations(30);
    const configJson = bakeConfigJson(config);
    // Twice this (define and banner, escaped) on one `sh -c` command line is what failed with status 249.
    assert.ok(Buffer.byteLength(configJson) > 64 * 1024, `${Buffer.byteLength(configJson)} bytes`);
    const { dir } = synthProbe(configJson);
    const bundle = readFileSync(join(dir, 'index.mjs'), 'utf8');
    assert.ok(bundle.includes('instavid-plates-6'));

    const mod = (await import(`${pathToFileURL(join(dir, 'index.mjs')).href}?large`)) as { handler: Handler };
    const seen = await mod.handler();
    assert.equal(seen.defined, configJson);
    assert.equal(seen.viaEnvModule, configJson);
    // The handlers' reader (lambdas/handlers/runtime.ts) gets the config that was validated.
    assert.deepEqual(
      readBakedConfig(String(seen.viaEnvModule), Object.keys(VENDORS), 'RELAY_CONFIG_JSON'),
      config,
    );
  });

  it('the asset hash follows the config: the same config → the same hash, a changed one → a new hash', () => {
    const config = manyDestinations(10);
    const changed = {
      ...config,
      data_transmit: config.data_transmit.map((t, i) => (i === 7 ? { ...t, enabled: false } : t)),
    };
    // Each synth bundles again (no asset reused from this process's cache).
    const hashOf = (c: RelayConfig) => {
      AssetStaging.clearAssetHashCache();
      return synthProbe(bakeConfigJson(c)).hash;
    };
    const first = hashOf(config);
    assert.equal(hashOf(structuredClone(config)), first, 'the same config bundled again');
    assert.notEqual(
      hashOf(changed),
      first,
      'a changed config must change the asset, or a deploy keeps the old',
    );
  });

  it('synth stops with a clear message when the config, or anything large, would be an esbuild argument', () => {
    const configJson = bakeConfigJson(manyDestinations(5));
    const settings = bakedBundleSettings(PROJECT_ROOT, configJson);
    const args = [
      `--banner:js=${settings.banner}`,
      ...Object.entries(settings.define).map(([k, v]) => `--define:${k}=${v}`),
      ...settings.inject.map((f) => `--inject:${f}`),
    ];
    assert.doesNotThrow(() => assertBundlingArgsFit(args, configJson, 'probe'));
    assert.ok(args.includes(`--define:process.env.RELAY_CONFIG_JSON=${BAKED_CONFIG_IDENTIFIER}`));
    assert.match(settings.inject[0] ?? '', /^\.\/\.build\/baked-config\/[0-9a-f]{32}\.mjs$/);

    // The old way: the config as a string literal in define and banner.
    for (const old of [
      `--define:process.env.RELAY_CONFIG_JSON=${JSON.stringify(configJson)}`,
      `--banner:js=process.env.RELAY_CONFIG_JSON = ${JSON.stringify(configJson)};`,
      `--banner:js=${configJson}`,
    ])
      assert.throws(
        () => assertBundlingArgsFit([...args, old], configJson, 'RelayFunction Stack/Router'),
        /^Error: RelayFunction Stack\/Router: the relay config would be on esbuild's command line .*status 249/,
      );
    assert.throws(
      () => assertBundlingArgsFit([...args, `--banner:js=${'x'.repeat(MAX_BUNDLING_ARGS_BYTES)}`], '{}', 'p'),
      /^Error: p: esbuild's arguments would take \d+ bytes \(at most 32768; the longest: "--banner:js=x/,
    );
  });
});
