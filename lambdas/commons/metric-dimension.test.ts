import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { destinationDimension, MAX_PLAIN_DIMENSION_LENGTH } from './metric-dimension.ts';

const VALID = /^[\x20-\x7e]{1,1024}$/;

describe('destinationDimension', () => {
  it('a short printable-ASCII name is its own value', () => {
    for (const n of ['instrumental-main', 'ei training', 'a/b:c', 'x'.repeat(MAX_PLAIN_DIMENSION_LENGTH)])
      assert.equal(destinationDimension(n), n);
  });

  it('a non-ASCII name becomes ASCII: diacritics dropped, other characters "_", plus a hash', () => {
    const v = destinationDimension('Prüfstand Linie 1 → QS');
    assert.match(v, VALID);
    assert.match(v, /^Prufstand Linie 1 _ QS~[0-9a-f]{10}$/);
  });

  it('stable, and distinct for names that render alike', () => {
    const names = ['Prüfstand', 'Prufstand', 'Prûfstand', 'A→B', 'A←B', 'Straße', 'Strasse', '検査ライン'];
    const values = names.map(destinationDimension);
    assert.equal(new Set(values).size, names.length);
    assert.deepEqual(names.map(destinationDimension), values);
    for (const v of values) assert.match(v, VALID);
  });

  it('a long or control-character name is cut and hashed, within 1024 characters', () => {
    for (const n of ['x'.repeat(MAX_PLAIN_DIMENSION_LENGTH + 1), 'é'.repeat(5000), 'tab\there']) {
      const v = destinationDimension(n);
      assert.match(v, VALID);
      assert.notEqual(v, n);
    }
    assert.notEqual(
      destinationDimension(`${'x'.repeat(300)}a`),
      destinationDimension(`${'x'.repeat(300)}b`),
      'names that differ only past the cut',
    );
  });
});
