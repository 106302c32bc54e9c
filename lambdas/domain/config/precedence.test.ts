/** The deploy identity of a baked config (configHash) and the rule that picks a saved version over it. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalJson, configHash, savedConfigApplies } from './precedence.ts';

describe('configHash', () => {
  it('is the same for the same config whatever its key order, and differs when a value does', () => {
    const a = { version: 1, relay: { b: [1, { y: 2, x: 1 }], a: null }, data_transmit: [] };
    const b = { data_transmit: [], relay: { a: null, b: [1, { x: 1, y: 2 }] }, version: 1 };
    assert.equal(
      canonicalJson(b),
      '{"data_transmit":[],"relay":{"a":null,"b":[1,{"x":1,"y":2}]},"version":1}',
    );
    assert.equal(configHash(a), configHash(b));
    assert.match(configHash(a), /^[0-9a-f]{64}$/);
    assert.notEqual(configHash(a), configHash({ ...a, version: 2 }));
    assert.notEqual(
      configHash({ relay: { b: [1, 2] } }),
      configHash({ relay: { b: [2, 1] } }),
      'order of lists counts',
    );
  });
});

describe('savedConfigApplies', () => {
  it('only a version saved on this baked config', () => {
    assert.equal(savedConfigApplies({ version: 3, baseHash: 'h1' }, 'h1'), true);
    assert.equal(savedConfigApplies({ version: 3, baseHash: 'h0' }, 'h1'), false, 'saved on another deploy');
    assert.equal(savedConfigApplies({ version: 3 }, 'h1'), false, 'saved before baseHash was recorded');
  });
});
