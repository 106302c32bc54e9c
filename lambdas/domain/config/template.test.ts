import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JsonValue } from '#vendors/types.ts';
import {
  compileTemplate,
  missingRequired,
  referencedNames,
  renderTemplate,
  renderTemplates,
  resolvePath,
  TemplateSyntaxError,
} from './template.ts';
import { ctxFor } from './testing.ts';
import { toIso8601 } from './time.ts';

const ctx = ctxFor({
  parts: { serial: 'SN1', station: 'aoi-top', taken_at: '20240315T101530' },
  sidecar: {
    tz: 'Europe/Berlin',
    tags: ['a', 'b'],
    nested: { deep: { v: 7 } },
    arr: [{ id: 'x' }, { id: 'y' }],
    empty: '',
    nothing: null,
    csv: 'p, q ,r',
    flag: true,
  },
  meta: { 'taken-at': '2024-03-15_10-15-30', tz: 'Asia/Tokyo', lot: 'L9' },
  object: {
    bucket: 'ingest',
    key: 'line-1/aoi-top/SN1_20240315T101530.tar.jpg',
    size: 2048,
    etag: '"etag-1"',
    version_id: 'v1',
    last_modified: '2024-03-15T10:16:00.000Z',
  },
  stream: { asset: 'line-1', stream_type: 'aoi-camera' },
  vars: { tz: 'America/Los_Angeles', n: 3, obj: { k: 'v' } },
});

const one = (t: JsonValue) => renderTemplate(t, ctx);

describe('template sources', () => {
  it('reads key parts', () => {
    assert.deepEqual(one('{serial}'), { value: 'SN1', missing: [] });
    assert.deepEqual(one('{ station }'), { value: 'aoi-top', missing: [] });
  });

  it('reads sidecar paths, array indexes and whole values', () => {
    assert.deepEqual(one('{sidecar.tz}').value, 'Europe/Berlin');
    assert.deepEqual(one('{sidecar.nested.deep.v}').value, 7);
    assert.deepEqual(one('{sidecar.arr.1.id}').value, 'y');
    assert.deepEqual(one('{sidecar.tags.0}').value, 'a');
    assert.deepEqual(one('{sidecar.tags}').value, ['a', 'b']);
    assert.deepEqual(one('{sidecar.flag}').value, true);
    assert.deepEqual(one('{sidecar.nested}').value, { deep: { v: 7 } });
  });

  it('reads user metadata with lowercase keys', () => {
    assert.equal(one('{meta.tz}').value, 'Asia/Tokyo');
    assert.equal(one('{meta.Taken-At}').value, '2024-03-15_10-15-30');
    assert.deepEqual(one('{meta}').value, ctx.meta);
  });

  it('reads every object field', () => {
    assert.equal(one('{object.key}').value, 'line-1/aoi-top/SN1_20240315T101530.tar.jpg');
    assert.equal(one('{object.bucket}').value, 'ingest');
    assert.equal(one('{object.basename}').value, 'SN1_20240315T101530.tar.jpg');
    assert.equal(one('{object.stem}').value, 'SN1_20240315T101530.tar');
    assert.equal(one('{object.extension}').value, 'jpg');
    assert.equal(one('{object.size}').value, 2048);
    assert.equal(one('{object.etag}').value, 'etag-1');
    assert.equal(one('{object.version_id}').value, 'v1');
    assert.equal(one('{object.last_modified}').value, '2024-03-15T10:16:00.000Z');
  });

  it('reads stream and vars', () => {
    assert.equal(one('{stream.asset}').value, 'line-1');
    assert.equal(one('{stream.stream_type}').value, 'aoi-camera');
    assert.equal(one('{vars.tz}').value, 'America/Los_Angeles');
    assert.equal(one('{vars.n}').value, 3);
    assert.equal(one('{vars.obj.k}').value, 'v');
  });

  it('reads quoted literals with escapes', () => {
    assert.equal(one("{'a b|c??d}'}").value, 'a b|c??d}');
    assert.equal(one('{"it\'s \\"q\\""}').value, 'it\'s "q"');
    assert.equal(one("{''}").value, '');
  });

  it('falls back with ?? to the first source that resolves', () => {
    assert.equal(one('{sidecar.missing ?? meta.tz ?? vars.tz}').value, 'Asia/Tokyo');
    assert.equal(one('{sidecar.empty ?? sidecar.nothing ?? vars.tz}').value, 'America/Los_Angeles');
    assert.equal(one("{lot ?? meta.lot ?? 'none'}").value, 'L9');
    assert.equal(one("{lot ?? 'none'}").value, 'none');
  });

  it('object without extension or sidecar', () => {
    const c = ctxFor({ object: { bucket: 'b', key: 'dir/.hidden' } });
    assert.deepEqual(renderTemplate('{object.extension}', c).missing, [
      { json_path: [], expr: 'object.extension', reason: 'object.extension: not available for this object' },
    ]);
    assert.equal(renderTemplate('{object.stem}', c).value, '.hidden');
    assert.deepEqual(renderTemplate('{sidecar.tz}', c).missing, [
      { json_path: [], expr: 'sidecar.tz', reason: 'sidecar.tz: the object has no sidecar' },
    ]);
    assert.deepEqual(renderTemplate('{object.size}', ctxFor({ object: { bucket: 'b', key: 'k' } })).missing, [
      { json_path: [], expr: 'object.size', reason: 'object.size: not available for this object' },
    ]);
  });
});

describe('template filters', () => {
  it('upper, lower, trim on strings, numbers and arrays', () => {
    assert.equal(one('{station|upper}').value, 'AOI-TOP');
    assert.equal(one("{'MiXeD'|lower}").value, 'mixed');
    assert.equal(one("{'  x  '|trim}").value, 'x');
    assert.deepEqual(one('{sidecar.tags|upper}').value, ['A', 'B']);
    assert.equal(one('{vars.n|upper}').value, '3');
    assert.deepEqual(one('{sidecar.nested|upper}'), {
      value: undefined,
      missing: [{ json_path: [], expr: 'sidecar.nested|upper', reason: 'upper: cannot apply to an object' }],
    });
  });

  it('number', () => {
    assert.equal(one("{' 42.5 '|number}").value, 42.5);
    assert.equal(one('{vars.n|number}').value, 3);
    assert.deepEqual(one('{serial|number}').missing, [
      { json_path: [], expr: 'serial|number', reason: 'number: "SN1" is not a number' },
    ]);
    assert.deepEqual(one('{sidecar.flag|number}').missing[0]?.reason, 'number: true is not a number');
  });

  it('split (default separator ",") and chains', () => {
    assert.deepEqual(one('{sidecar.csv|split}').value, ['p', ' q ', 'r']);
    assert.deepEqual(one("{sidecar.csv|split:','|trim|upper}").value, ['P', 'Q', 'R']);
    assert.deepEqual(one("{'a b'|split:' '}").value, ['a', 'b']);
    assert.deepEqual(one('{station|split:-}').value, ['aoi', 'top']);
    assert.deepEqual(one('{sidecar.tags|split}').value, ['a', 'b']);
    assert.deepEqual(one("{sidecar.tags ?? meta.lot|split:';'|upper}").value, ['A', 'B']);
    assert.deepEqual(one("{sidecar.none ?? meta.lot|split:';'|upper}").value, ['L9']);
    assert.equal(one('{sidecar.nested|split}').missing[0]?.reason, 'split: needs a string');
    assert.deepEqual(one('{vars.n|split}').value, ['3']);
  });

  it('default rescues a missing value, and only a missing one', () => {
    assert.equal(one('{sidecar.none|default:UTC}').value, 'UTC');
    assert.equal(one("{sidecar.none|default:'n/a x'}").value, 'n/a x');
    assert.equal(one("{sidecar.none|default:''}").value, '');
    assert.equal(one('{sidecar.tz|default:UTC}').value, 'Europe/Berlin');
    assert.equal(
      one("{'nope'|iso8601|default:'1970-01-01T00:00:00.000Z'}").value,
      '1970-01-01T00:00:00.000Z',
    );
    assert.equal(one('{sidecar.none|upper|default:x}').value, 'x');
  });

  it('iso8601 accepts every documented form', () => {
    const cases: Array<[string | number, string]> = [
      ['2024-03-15T10:15:30Z', '2024-03-15T10:15:30.000Z'],
      ['2024-03-15T10:15:30.123456Z', '2024-03-15T10:15:30.123Z'],
      ['2024-03-15T10:15:30.5', '2024-03-15T10:15:30.500Z'],
      ['2024-03-15 20:51:06.135094', '2024-03-15T20:51:06.135Z'],
      ['2024-03-15T10:15', '2024-03-15T10:15:00.000Z'],
      ['2024-03-15', '2024-03-15T00:00:00.000Z'],
      // With an offset: the same moment, written in the zone (UTC by default).
      ['2024-03-15T10:15:30+02:00', '2024-03-15T08:15:30.000Z'],
      ['2024-03-15T10:15:30-0530', '2024-03-15T15:45:30.000Z'],
      ['2024-03-15T10:15:30+09', '2024-03-15T01:15:30.000Z'],
      ['20240315T101530', '2024-03-15T10:15:30.000Z'],
      ['20240315T101530.250Z', '2024-03-15T10:15:30.250Z'],
      ['20240315T101530+0100', '2024-03-15T09:15:30.000Z'],
      ['20240315_101530', '2024-03-15T10:15:30.000Z'],
      ['20240315_101530.7', '2024-03-15T10:15:30.700Z'],
      ['2024-03-15_10-15-30', '2024-03-15T10:15:30.000Z'],
      ['1710497730', '2024-03-15T10:15:30.000Z'],
      ['1710497730.25', '2024-03-15T10:15:30.250Z'],
      ['1710497730250', '2024-03-15T10:15:30.250Z'],
      [1710497730, '2024-03-15T10:15:30.000Z'],
      [1710497730250, '2024-03-15T10:15:30.250Z'],
      ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00.000Z'],
    ];
    for (const [input, expected] of cases) {
      assert.deepEqual(toIso8601(input), { ok: true, value: expected }, String(input));
    }
  });

  it('iso8601 refuses what it cannot read, with a reason', () => {
    for (const bad of [
      '2023-02-29T00:00:00Z',
      '2024-13-01',
      '2024-03-15T24:00:00',
      'yesterday',
      '20240315',
      '',
    ]) {
      assert.deepEqual(toIso8601(bad), {
        ok: false,
        reason: `${JSON.stringify(bad)} is not a recognised timestamp`,
        cause: 'invalid-timestamp',
      });
    }
    assert.equal(toIso8601(true).ok, false);
    assert.deepEqual(one('{serial|iso8601}').missing, [
      {
        json_path: [],
        expr: 'serial|iso8601',
        reason: 'iso8601: "SN1" is not a recognised timestamp',
        cause: 'invalid-timestamp',
      },
    ]);
    assert.equal(one('{taken_at|iso8601}').value, '2024-03-15T10:15:30.000Z');
    assert.equal(one('{meta.taken-at|iso8601}').value, '2024-03-15T10:15:30.000Z');
  });
});

describe('template rendering', () => {
  it('a single placeholder keeps the raw type; mixed text is a string', () => {
    assert.deepEqual(one('{sidecar.tags}').value, ['a', 'b']);
    assert.equal(one('{object.size}').value, 2048);
    assert.equal(
      one('size={object.size} tags={sidecar.tags} f={sidecar.flag}').value,
      'size=2048 tags=["a","b"] f=true',
    );
    assert.equal(one(' {serial}').value, ' SN1');
  });

  it('escapes braces', () => {
    assert.equal(one('{{serial}}').value, '{serial}');
    assert.equal(one('{{{serial}}}').value, '{SN1}');
    assert.equal(one('a}}b{{c').value, 'a}b{c');
  });

  it('passes non-string values through', () => {
    assert.deepEqual(renderTemplates({ a: 1, b: true, c: null, d: [1, 'x'], e: {} }, ctx), {
      value: { a: 1, b: true, c: null, d: [1, 'x'], e: {} },
      missing: [],
    });
  });

  it('omits missing leaves, and objects/arrays left empty, reporting each', () => {
    const r = renderTemplates(
      {
        serialNumber: '{serial}',
        lot: 'lot-{lot}-{sidecar.batch}',
        imageTimestamp: { iso8601Time: '{taken_at|iso8601}', ianaTimeZone: '{sidecar.none}' },
        parentAssembly: { unitSerial: '{sidecar.parent.serial}', relationshipName: '{sidecar.parent.rel}' },
        tags: ['{sidecar.none}', '{station}'],
        gone: ['{sidecar.none}'],
      },
      ctx,
    );
    assert.deepEqual(r.value, {
      serialNumber: 'SN1',
      imageTimestamp: { iso8601Time: '2024-03-15T10:15:30.000Z' },
      tags: ['aoi-top'],
    });
    assert.deepEqual(r.missing, [
      { json_path: ['lot'], expr: 'lot', reason: 'key part "lot" is not set' },
      { json_path: ['lot'], expr: 'sidecar.batch', reason: 'sidecar.batch: not in the sidecar' },
      {
        json_path: ['imageTimestamp', 'ianaTimeZone'],
        expr: 'sidecar.none',
        reason: 'sidecar.none: not in the sidecar',
      },
      {
        json_path: ['parentAssembly', 'unitSerial'],
        expr: 'sidecar.parent.serial',
        reason: 'sidecar.parent.serial: not in the sidecar',
      },
      {
        json_path: ['parentAssembly', 'relationshipName'],
        expr: 'sidecar.parent.rel',
        reason: 'sidecar.parent.rel: not in the sidecar',
      },
      { json_path: ['tags', 0], expr: 'sidecar.none', reason: 'sidecar.none: not in the sidecar' },
      { json_path: ['gone', 0], expr: 'sidecar.none', reason: 'sidecar.none: not in the sidecar' },
    ]);
  });

  it('reports every source tried and the missing user metadata / vars', () => {
    assert.deepEqual(one('{sidecar.x ?? meta.x ?? vars.x ?? x}').missing, [
      {
        json_path: [],
        expr: 'sidecar.x ?? meta.x ?? vars.x ?? x',
        reason:
          "sidecar.x: not in the sidecar; meta.x: no such user metadata; vars.x: not set in the stream's vars; " +
          'key part "x" is not set',
      },
    ]);
  });

  it('does not let a rendered value alias the sidecar', () => {
    const r = renderTemplates({ t: '{sidecar.tags}' }, ctx);
    (r.value.t as string[]).push('z');
    assert.deepEqual(renderTemplates({ t: '{sidecar.tags}' }, ctx).value.t, ['a', 'b']);
  });

  it('renders compiled templates the same as raw ones', () => {
    const t = { a: '{serial}', b: ['{station|upper}'] };
    assert.deepEqual(renderTemplates(compileTemplate(t), ctx), renderTemplates(t, ctx));
  });
});

describe('template syntax', () => {
  const syntax = (template: string, reason: string, position: number) => {
    assert.throws(
      () => compileTemplate({ f: [template] }),
      (e: unknown) => {
        assert.ok(e instanceof TemplateSyntaxError);
        assert.equal(e.reason, reason);
        assert.equal(e.position, position);
        assert.deepEqual(e.json_path, ['f', 0]);
        return true;
      },
    );
  };

  it('reports errors with a position', () => {
    syntax('ab{serial', 'unclosed "{" (write "{{" for a literal brace)', 2);
    syntax('ab}', 'unmatched "}" (write "}}" for a literal brace)', 2);
    syntax('{}', 'empty placeholder (write "{{}}" for literal braces)', 0);
    syntax('x{ a {b} }', '"{" inside a placeholder', 5);
    syntax('{a ? b}', 'expected "??" between sources', 3);
    syntax('{a b}', 'unexpected "b"', 3);
    syntax(
      '{a|nope}',
      'unknown filter "nope"; known: upper, lower, trim, number, iso8601, split, default',
      3,
    );
    syntax('{a|upper:x}', 'filter "upper" takes no argument', 3);
    syntax('{a|default}', '"default" needs a value: default:<literal>', 3);
    syntax('{a|default:}', '"default:" needs a value (quote it for an empty or spaced value)', 11);
    syntax('{a|}', 'expected a filter name (upper, lower, trim, number, iso8601, split, default)', 3);
    syntax('{a ?? }', 'expected a name, a path or a quoted literal', 6);
    syntax("{'abc}", 'unterminated quoted literal', 1);
    syntax(
      '{foo.bar}',
      'unknown source "foo.bar": paths start with sidecar., meta., object., stream., vars.',
      1,
    );
    syntax(
      '{object.name}',
      'unknown field "object.name"; known: object.key, object.bucket, object.basename, object.stem, ' +
        'object.extension, object.size, object.etag, object.version_id, object.last_modified',
      1,
    );
    syntax('{stream}', '"stream" needs a field: stream.asset|stream_type|time_zone', 1);
    syntax('{a-b}', '"a-b" is not a key part name (letters, digits and _)', 1);
    syntax('{2x}', '"2x" is not a key part name (letters, digits and _)', 1);
  });

  it('the error message names the template', () => {
    assert.throws(() => compileTemplate('{a|x}'), {
      message:
        'unknown filter "x"; known: upper, lower, trim, number, iso8601, split, default at position 3 in "{a|x}"',
    });
  });
});

describe('referencedNames and required', () => {
  it('lists paths used, unique, in order, without literals', () => {
    assert.deepEqual(
      referencedNames({
        a: '{serial}-{station}',
        b: { c: ["{sidecar.tz ?? meta.tz ?? vars.tz ?? 'UTC'}"], d: '{serial|upper}' },
        e: '{object.basename} {stream.asset}',
        f: 5,
      }),
      ['serial', 'station', 'sidecar.tz', 'meta.tz', 'vars.tz', 'object.basename', 'stream.asset'],
    );
  });

  it('resolvePath and missingRequired', () => {
    assert.deepEqual(resolvePath('serial', ctx), { ok: true, value: 'SN1' });
    assert.deepEqual(resolvePath('meta.LOT', ctx), { ok: true, value: 'L9' });
    assert.deepEqual(
      missingRequired(['serial', 'sidecar.tz', 'sidecar.op', 'meta.lot', 'meta.line', 'lot'], ctx),
      [
        { name: 'sidecar.op', reason: 'sidecar.op: not in the sidecar' },
        { name: 'meta.line', reason: 'meta.line: no such user metadata' },
        { name: 'lot', reason: 'key part "lot" is not set' },
      ],
    );
    assert.deepEqual(missingRequired(undefined, ctx), []);
  });
});
