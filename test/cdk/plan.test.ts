import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { App, Duration } from 'aws-cdk-lib';
import { readBakedConfig } from '../../lambdas/domain/config/baked.ts';
import { bakeConfigJson, contextSettings, DEFAULT_CONFIG_PATH, resolveConfigPath } from '../../lib/app.ts';
import { FORWARDER_EVENT_SOURCE, vendorMaxReceiveCount, visibilityTimeoutFor } from '../../lib/defaults.ts';
import { PlanError, planRelay, toIdPart } from '../../lib/plan.ts';
import { fullConfig, minimalConfig } from './fixtures.ts';

describe('planRelay', () => {
  it('one vendor plan per distinct transmit_type, in config order, with its destinations and secrets', () => {
    const plan = planRelay(fullConfig());
    assert.deepEqual(
      plan.vendors.map((v) => [v.vendor, v.idPart, v.destinations, v.secretNames]),
      [
        [
          'instrumental',
          'Instrumental',
          ['instrumental-main', 'instrumental-eol'],
          ['relay/instrumental-eol', 'relay/instrumental-main'],
        ],
        ['edge-impulse', 'EdgeImpulse', ['ei-training'], ['relay/edge-impulse']],
        ['instavid360', 'Instavid360', ['iv360'], ['relay/instavid360']],
      ],
    );
    assert.deepEqual(plan.secretNames, [
      'relay/edge-impulse',
      'relay/instavid360',
      'relay/instrumental-eol',
      'relay/instrumental-main',
    ]);
  });

  it('DLQ redrive = max_attempts (default 8) + 20 receives that send nothing (held deliveries wait in the table)', () => {
    assert.equal(vendorMaxReceiveCount(undefined), 8 + 20);
    assert.equal(vendorMaxReceiveCount(6), 6 + 20);
    assert.ok(planRelay(fullConfig()).vendors.every((v) => v.maxReceiveCount === vendorMaxReceiveCount(6)));
    const [only] = planRelay(minimalConfig()).vendors;
    assert.equal(only?.maxReceiveCount, vendorMaxReceiveCount(undefined));
    assert.equal(only?.maxConcurrency, FORWARDER_EVENT_SOURCE.maxConcurrency);
  });

  it("a plug-in's infra sets its forwarder (results writer, batching); overrides apply per vendor", () => {
    const plan = planRelay(fullConfig(), {
      vendorSettings: { instrumental: { maxConcurrency: 40 } },
      vendors: {
        instrumental: {},
        'edge-impulse': { infra: { batchSize: 100, batchingWindowSeconds: 2 } },
        instavid360: { infra: { writesResults: true } },
      },
    });
    assert.deepEqual(
      plan.vendors.map((v) => [v.vendor, v.settings.batchSize, v.settings.batchingWindowSeconds]),
      [
        ['instrumental', 10, 0],
        ['edge-impulse', 100, 2],
        ['instavid360', 10, 0],
      ],
    );
    assert.deepEqual(
      plan.vendors.map((v) => [v.vendor, v.writesResults, v.maxConcurrency]),
      [
        ['instrumental', false, 40],
        ['edge-impulse', false, 5],
        ['instavid360', true, 5],
      ],
    );
    assert.equal(plan.writesResults, true);
    assert.equal(planRelay(minimalConfig(), { vendors: { instrumental: {} } }).writesResults, false);
    // A deployment may tune a vendor's batching (a longer window for bigger batches).
    const tuned = planRelay(fullConfig(), {
      vendorSettings: { 'edge-impulse': { batchingWindowSeconds: 10, batchSize: 500 } },
    });
    const ei = tuned.vendors.find((v) => v.vendor === 'edge-impulse');
    assert.deepEqual([ei?.settings.batchSize, ei?.settings.batchingWindowSeconds], [500, 10]);
  });

  it('destinations without an api_key_secret need no secret', () => {
    const config = minimalConfig();
    const t = config.data_transmit[0];
    assert.ok(t);
    delete t.api_key_secret;
    assert.deepEqual(planRelay(config).secretNames, []);
  });

  it('refuses what would make broken infrastructure', () => {
    const badVendor = minimalConfig();
    if (badVendor.data_transmit[0]) badVendor.data_transmit[0].transmit_type = 'V7 Darwin';
    assert.throws(
      () => planRelay(badVendor),
      (e) => e instanceof PlanError && /not a vendor id/.test(e.message),
    );
    const badSecret = minimalConfig();
    if (badSecret.data_transmit[0]) badSecret.data_transmit[0].api_key_secret = 'key with spaces';
    assert.throws(() => planRelay(badSecret), /not a Secrets Manager name/);
    for (const maxConcurrency of [1, 1001, 2.5])
      assert.throws(
        () => planRelay(minimalConfig(), { vendorSettings: { 'v7-darwin': { maxConcurrency } } }),
        /outside 2\.\.1000/,
      );
    assert.throws(
      () => planRelay(minimalConfig(), { vendorSettings: { instrumental: { maxConcurrency: 3 } } }),
      /vendors the config does not use: instrumental/,
    );
    const v7 = (settings: { batchSize?: number; batchingWindowSeconds?: number }) => () =>
      planRelay(minimalConfig(), { vendorSettings: { 'v7-darwin': settings } });
    assert.throws(v7({ batchSize: 0 }), /batchSize 0 is outside 1\.\.10000/);
    assert.throws(v7({ batchingWindowSeconds: 301 }), /batchingWindowSeconds 301 is outside 0\.\.300/);
    assert.throws(v7({ batchSize: 50, batchingWindowSeconds: 0 }), /needs a batching window of at least 1 s/);
  });

  it('toIdPart makes construct ids', () => {
    assert.equal(toIdPart('edge-impulse'), 'EdgeImpulse');
    assert.equal(toIdPart('v7-darwin'), 'V7Darwin');
    assert.equal(toIdPart('instavid360'), 'Instavid360');
  });
});

describe('defaults', () => {
  it('visibility timeout is 6 × the function timeout + the batching window', () => {
    assert.equal(visibilityTimeoutFor(Duration.seconds(120)).toSeconds(), 720);
    assert.equal(visibilityTimeoutFor(Duration.seconds(30), Duration.seconds(5)).toSeconds(), 185);
  });
});

describe('app helpers', () => {
  it('config path: -c config wins, then RELAY_CONFIG_FILE, then config/example.yaml', () => {
    assert.equal(resolveConfigPath('a.yaml', 'b.yaml'), 'a.yaml');
    assert.equal(resolveConfigPath(undefined, 'b.yaml'), 'b.yaml');
    assert.equal(resolveConfigPath('', ''), DEFAULT_CONFIG_PATH);
    assert.equal(DEFAULT_CONFIG_PATH, 'config/example.yaml');
  });

  it('context settings are read from -c values', () => {
    const app = new App({
      context: {
        alarmEmail: 'ops@example.com',
        secretPrefix: 'fr/',
        stackName: 'Relay2',
        ingestBucketKmsKeyArn: 'arn:aws:kms:eu-west-1:111111111111:key/k',
        ingestKeyPrefix: 'factory/',
      },
    });
    assert.deepEqual(contextSettings(app), {
      alarmEmail: 'ops@example.com',
      ingestBucketKmsKeyArn: 'arn:aws:kms:eu-west-1:111111111111:key/k',
      ingestKeyPrefix: 'factory/',
      secretPrefix: 'fr/',
      stackName: 'Relay2',
    });
  });

  it('the baked JSON reads back at run time as exactly the validated config, literal ${ included', () => {
    const config = minimalConfig();
    const stream = config.data_receiver[0]?.streams[0];
    assert.ok(stream);
    // Literal "${" in a value (written "$${" in a config file): the functions must not interpolate it again.
    const literal = { a: `literal ${'$'}{NOT_A_VAR} kept`, b: `and $${'$'}{x} too` };
    stream.vars = { ...literal };
    const baked = readBakedConfig(bakeConfigJson(config), ['v7-darwin'], 'RELAY_CONFIG_JSON');
    assert.deepEqual(baked, config);
    assert.deepEqual(baked.data_receiver[0]?.streams[0]?.vars, literal);
  });
});
