/**
 * bin/factory-relay.ts end to end, as `cdk synth` runs it: a valid config synthesizes with real bundles and the
 * AwsSolutions checks, every handler bundle loads as ESM; an invalid config stops synth.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { PROJECT_ROOT } from '../../lib/factory-relay-stack.ts';

const outdir = mkdtempSync(join(tmpdir(), 'factory-relay-synth-'));
after(() => rmSync(outdir, { recursive: true, force: true }));

function runApp(extraEnv: Record<string, string>) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'bin/factory-relay.ts'], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, CDK_OUTDIR: outdir, CDK_CONTEXT_JSON: '{}', ...extraEnv },
    encoding: 'utf8',
    // One bundle per Lambda (five with the demo config) on a busy 2-core machine: a generous deadline.
    timeout: 300_000,
  });
}

describe('bin/factory-relay.ts', () => {
  it('an invalid config prints its violations and exits non-zero before synthesizing', () => {
    const r = runApp({ RELAY_CONFIG_FILE: 'test/cdk/fixtures/invalid-config.yaml' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(
      r.stderr,
      /the config test\/cdk\/fixtures\/invalid-config\.yaml is invalid; nothing was synthesized/,
    );
    assert.match(r.stderr, /^error {2}data_transmit\[0\]\.base_url {2}"base_url" is required$/m);
  });

  it('a missing config file is reported the same way', () => {
    const r = runApp({ RELAY_CONFIG_FILE: 'test/cdk/fixtures/does-not-exist.yaml' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot read the config file/);
  });

  it('config/example.yaml synthesizes: checks pass, each handler is bundled with the config and loads', async () => {
    const r = runApp({
      CDK_CONTEXT_JSON: JSON.stringify({ config: 'config/example.yaml', alarmEmail: 'ops@example.com' }),
    });
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: Array<{ violations?: unknown[] }>;
    };
    for (const p of report.pluginReports) assert.deepEqual(p.violations ?? [], []);

    const template = JSON.parse(readFileSync(join(outdir, 'FactoryRelay.template.json'), 'utf8')) as {
      Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
    };
    const resources = Object.values(template.Resources);
    assert.equal(resources.filter((x) => x.Type === 'AWS::SNS::Subscription').length, 1);
    const relayFunctions = resources.filter(
      (x) => x.Type === 'AWS::Lambda::Function' && x.Properties.Runtime === 'nodejs22.x',
    );
    // router, poller, callback, ops, aggregator, and the Instrumental, V7, Edge Impulse and InstaVid360 forwarders
    assert.equal(relayFunctions.length, 9);
    const saved = process.env.RELAY_CONFIG_JSON;
    try {
      for (const fn of relayFunctions) {
        const key = (fn.Properties.Code as { S3Key: string }).S3Key;
        const file = join(outdir, `asset.${key.replace(/\.zip$/, '')}`, 'index.mjs');
        const bundle = readFileSync(file, 'utf8');
        assert.ok(bundle.includes('instrumental-demo'), `${file}: the config is not compiled in`);
        assert.ok(!/["']#(commons|domain|adapters|vendors)\//.test(bundle), `${file}: unresolved # import`);
        // Lean cold starts (lib/bundling.ts): no YAML parser, no ajv compiler (the field validators are
        // precompiled), not the SDK's default credential chain, no source-map flag.
        // The ops API is the exception: it validates configs sent as YAML (a request-time path, not the data's).
        const isOps = String(fn.Properties.Description ?? '').includes('the ops API');
        for (const marker of isOps ? [] : ['YAMLParseError', 'strictSchema', 'defaultProvider::fromSSO'])
          assert.ok(!bundle.includes(marker), `${file} carries ${marker}`);
        const env = (fn.Properties.Environment as { Variables?: Record<string, string> } | undefined)
          ?.Variables;
        assert.equal(env?.NODE_OPTIONS, undefined, `${file}: NODE_OPTIONS`);
        const mod = (await import(pathToFileURL(file).href)) as { handler?: unknown };
        assert.equal(typeof mod.handler, 'function', file);
      }
    } finally {
      if (saved === undefined) delete process.env.RELAY_CONFIG_JSON;
      else process.env.RELAY_CONFIG_JSON = saved;
    }
  });
});
