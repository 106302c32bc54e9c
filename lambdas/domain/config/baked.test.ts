import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VENDORS } from '#vendors/registry.ts';
import { BakedConfigError, readBakedConfig } from './baked.ts';
import { loadConfigFile } from './load.ts';

const EXAMPLE = new URL('../../../config/example.yaml', import.meta.url).pathname;
const VENDOR_IDS = Object.keys(VENDORS);

describe('readBakedConfig: the config as a Lambda reads it', () => {
  it('gives back exactly the validated config', () => {
    const { config } = loadConfigFile(EXAMPLE, VENDORS, {});
    assert.deepEqual(readBakedConfig(JSON.stringify(config), VENDOR_IDS, 'RELAY_CONFIG_JSON'), config);
  });

  it('refuses what is not a validated config, saying where it came from and why', () => {
    const cases: Array<[string, RegExp]> = [
      ['version: 1', /RELAY_CONFIG_JSON is not a relay config validated at synth: not JSON/],
      ['[]', /not a JSON object/],
      ['{"version": 2, "data_receiver": [], "data_transmit": []}', /version 2, not 1/],
      ['{"version": 1, "data_receiver": [{}], "data_transmit": []}', /data_receiver is not a list/],
      ['{"version": 1, "data_receiver": [], "data_transmit": {}}', /data_transmit is not a list/],
      ['{"version": 1, "data_receiver": [], "data_transmit": [{"transmit_name": "x"}]}', /\[0\] has no/],
      [
        '{"version": 1, "data_receiver": [], "data_transmit": [{"transmit_name": "x", "transmit_type": "nope"}]}',
        /transmit_type "nope" is not a plug-in of this build/,
      ],
    ];
    for (const [text, why] of cases)
      assert.throws(
        () => readBakedConfig(text, VENDOR_IDS, 'RELAY_CONFIG_JSON'),
        (e: unknown) => e instanceof BakedConfigError && why.test(e.message),
        text,
      );
  });
});
