import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileIgnore, DEFAULT_IGNORE, effectiveIgnore, globToRegExp, ignoreGlobProblem } from './ignore.ts';

describe('ignore globs', () => {
  it('the defaults take sync-tool and editor leftovers anywhere, and nothing a camera writes', () => {
    const m = compileIgnore(undefined);
    const junk: Array<[string, string]> = [
      ['.DS_Store', '**/.DS_Store'],
      ['line-1/aoi/.DS_Store', '**/.DS_Store'],
      ['line-1/aoi/._SN1_20240315T101530.jpg', '**/._*'],
      ['line-1/aoi/Thumbs.db', '**/Thumbs.db'],
      ['line-1/desktop.ini', '**/desktop.ini'],
      ['line-1/aoi/~$SN1_20240315T101530.jpg', '**/~$*'],
      ['line-1/aoi/SN1_20240315T101530.jpg.tmp', '**/*.tmp'],
      ['line-1/aoi/.SN1_20240315T101530.jpg.a1B2c3', '**/.*.??????'],
      ['docs/.~lock.report.xlsx#', '**/.~lock.*#'],
    ];
    for (const [key, glob] of junk) assert.equal(m.match(key), glob, key);
    for (const key of [
      'line-1/aoi/SN1_20240315T101530.jpg',
      'line-1/aoi/SN1_20240315T101530.jpg.json',
      'line-1/._dir/SN1.jpg',
      'line-1/aoi/SN1.tmpl',
      'line-1/aoi/.SN1.jpg.abc',
      'line-1/aoi/DS_Store',
      'line-1/aoi/Thumbs.db.jpg',
    ])
      assert.equal(m.match(key), undefined, key);
  });

  it('* stays within a segment, ** crosses them, ? is one character', () => {
    assert.ok(globToRegExp('a/*.jpg').test('a/x.jpg'));
    assert.ok(!globToRegExp('a/*.jpg').test('a/b/x.jpg'));
    assert.ok(globToRegExp('a/**/x.jpg').test('a/x.jpg'));
    assert.ok(globToRegExp('a/**/x.jpg').test('a/b/c/x.jpg'));
    assert.ok(globToRegExp('a/**').test('a/b/c'));
    assert.ok(globToRegExp('a/?.jpg').test('a/1.jpg'));
    assert.ok(!globToRegExp('a/?.jpg').test('a/12.jpg'));
    assert.ok(!globToRegExp('a?b').test('a/b'));
    // Regex characters are literal.
    assert.ok(globToRegExp('a+(b)$.x').test('a+(b)$.x'));
    assert.ok(!globToRegExp('a.x').test('abx'));
  });

  it('compares in NFC whatever form the key and the glob are written in', () => {
    const m = compileIgnore(['**/Pru\u0308fstand/*']);
    assert.equal(m.match('line-1/Prüfstand/x.jpg'), '**/Prüfstand/*');
    assert.equal(m.match('line-1/Pru\u0308fstand/x.jpg'), '**/Prüfstand/*');
  });

  it('[] ignores nothing; a list replaces the defaults; @defaults brings them in', () => {
    assert.deepEqual(effectiveIgnore([]), []);
    assert.equal(compileIgnore([]).match('a/.DS_Store'), undefined);
    assert.deepEqual(effectiveIgnore(['**/*.bak']), ['**/*.bak']);
    assert.deepEqual(effectiveIgnore(['@defaults', '**/*.bak', '**/._*']), [...DEFAULT_IGNORE, '**/*.bak']);
  });

  it('refuses what it would take literally', () => {
    for (const g of ['', '/a/*', '!**/x', '**/*.[ch]', '**/*.{jpg,png}', 'a/***'])
      assert.ok(ignoreGlobProblem(g), g);
    for (const g of [...DEFAULT_IGNORE, '@defaults', 'a/b.jpg'])
      assert.equal(ignoreGlobProblem(g), undefined, g);
  });
});
