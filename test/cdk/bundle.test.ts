/**
 * Real esbuild bundling (local esbuild, no Docker) of a probe entry: the bundle resolves the `#` imports,
 * runs as ESM on Node 22 with a `require` shim and carries the config inside the code. The relay's own
 * handler bundles are built and loaded by bin.test.ts (one real synth of the whole app).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { App, Duration, Stack } from 'aws-cdk-lib';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
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

describe('bundling', () => {
  it('resolves #imports, bakes the config via define and banner, shims require', async () => {
    const app = new App();
    const stack = new Stack(app, 'BundleProbe', { env: TEST_ENV });
    const configJson = JSON.stringify({ version: 1, probe: 'bundle-probe-config' });
    const probe = new RelayFunction(stack, 'Probe', {
      entry: join(PROJECT_ROOT, 'test/cdk/fixtures/bundle-probe.ts'),
      projectRoot: PROJECT_ROOT,
      description: 'probe',
      timeout: Duration.seconds(3),
      memorySize: 128,
      environment: {},
      configJson,
    });
    const asm = app.synth();
    const dir = assetDir(asm.directory, stack, probe.function);
    const bundle = readFileSync(join(dir, 'index.mjs'), 'utf8');
    assert.ok(existsSync(join(dir, 'index.mjs.map')), 'source map');
    assert.ok(!bundle.includes('#commons/'), 'an unresolved # import is left in the bundle');
    assert.ok(bundle.includes('bundle-probe-config'));
    assert.equal(stack.resolve((probe.function.node.defaultChild as CfnFunction).handler), 'index.handler');

    const mod = (await import(`${pathToFileURL(join(dir, 'index.mjs')).href}?probe`)) as { handler: Handler };
    // The banner set the variable on load; change it to tell the two paths apart.
    assert.equal(process.env.RELAY_CONFIG_JSON, configJson);
    process.env.RELAY_CONFIG_JSON = 'changed-after-load';
    assert.deepEqual(await mod.handler(), {
      partitionKey: 'pk',
      defined: configJson, // compiled in by esbuild define: independent of the environment
      viaEnvModule: 'changed-after-load', // read at run time through ENV (the banner's assignment)
      requireShim: 'function',
      builtin: 'function',
    });
  });
});
