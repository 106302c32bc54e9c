import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  compileKeyPattern,
  destinationsFor,
  filterMatches,
  forMatching,
  ignoredBy,
  isSidecarKey,
  KeyPatternError,
  matchStream,
  parseFilterEntry,
  sampleKeys,
  sidecarKeyFor,
  sidecarOwner,
} from './match.ts';
import type { DataTransmit, RelayConfig, StreamConfig } from './types.ts';

describe('compileKeyPattern', () => {
  it('splits {serial}_{taken_at}.{ext} at the first _ and the last .', () => {
    const p = compileKeyPattern('line-1/{station}/{serial}_{taken_at}.{ext}');
    assert.deepEqual(p.names, ['station', 'serial', 'taken_at', 'ext']);
    assert.deepEqual(p.match('line-1/aoi-top/SN1_20240315T101530.jpg'), {
      station: 'aoi-top',
      serial: 'SN1',
      taken_at: '20240315T101530',
      ext: 'jpg',
    });
    assert.deepEqual(p.match('line-1/aoi/SN_2_2024.03.15.tar.gz'), {
      station: 'aoi',
      serial: 'SN',
      taken_at: '2_2024.03.15.tar',
      ext: 'gz',
    });
    assert.equal(p.match('line-1/aoi/extra/SN1_2024.jpg'), undefined);
    assert.equal(p.match('line-1/aoi/SN1-2024.jpg'), undefined);
    assert.equal(p.match('line-2/aoi/SN1_2024.jpg'), undefined);
    assert.equal(p.match('prefix/line-1/aoi/SN1_2024.jpg'), undefined);
  });

  it('handles keys with spaces, +, %, and unicode', () => {
    const p = compileKeyPattern('in box/{station}/{serial}_{taken_at}.{ext}');
    assert.deepEqual(p.match('in box/Prüfstand 3/SN+1%20x_2024 03 15.jpeg'), {
      station: 'Prüfstand 3',
      serial: 'SN+1%20x',
      taken_at: '2024 03 15',
      ext: 'jpeg',
    });
    assert.deepEqual(compileKeyPattern('{a}_{b}.{ext}').match('相机_😀.png'), {
      a: '相机',
      b: '😀',
      ext: 'png',
    });
    assert.deepEqual(compileKeyPattern('a+b (1)/{x}.[j]pg').match('a+b (1)/v$^.[j]pg'), { x: 'v$^' });
    assert.equal(compileKeyPattern('a+b/{x}.jpg').match('aab/v.jpg'), undefined);
    assert.deepEqual(compileKeyPattern('{x}').match('line\nbreak'), { x: 'line\nbreak' });
  });

  it('{name**} spans segments', () => {
    const p = compileKeyPattern('{path**}/{serial}.{ext}');
    assert.deepEqual(p.match('a/b/c/SN.jpg'), { path: 'a/b/c', serial: 'SN', ext: 'jpg' });
    assert.equal(p.match('SN.jpg'), undefined);
    assert.deepEqual(compileKeyPattern('root/{rest**}').match('root/x/y z.jpg'), { rest: 'x/y z.jpg' });
  });

  it('* stays within a segment; ** crosses; **/ may match no segment', () => {
    const star = compileKeyPattern('cams/*/{serial}.jpg');
    assert.deepEqual(star.match('cams/c1/SN.jpg'), { serial: 'SN' });
    assert.equal(star.match('cams/c1/c2/SN.jpg'), undefined);
    assert.deepEqual(compileKeyPattern('cams/*.jpg').match('cams/.jpg'), {});
    const globstar = compileKeyPattern('cams/**/{serial}.jpg');
    assert.deepEqual(globstar.match('cams/SN.jpg'), { serial: 'SN' });
    assert.deepEqual(globstar.match('cams/a/b/SN.jpg'), { serial: 'SN' });
    assert.equal(globstar.match('other/SN.jpg'), undefined);
    assert.deepEqual(compileKeyPattern('**.jpg').match('a/b/c.jpg'), {});
    assert.deepEqual(compileKeyPattern('{{lit}}/{x}').match('{lit}/v'), { x: 'v' });
  });

  it('is case-sensitive', () => {
    assert.equal(compileKeyPattern('Line/{x}.jpg').match('line/a.jpg'), undefined);
  });

  it('rejects bad syntax and duplicate names', () => {
    const bad = (pattern: string, reason: string, position: number) =>
      assert.throws(
        () => compileKeyPattern(pattern),
        (e: unknown) => e instanceof KeyPatternError && e.reason === reason && e.position === position,
        pattern,
      );
    bad('a/{x}/{x}.jpg', 'duplicate part name "x"', 6);
    bad('a/{x', 'unclosed "{"', 2);
    bad('a/x}', 'unmatched "}" (write "}}" for a literal brace)', 3);
    bad('a/{}', 'invalid part name "" (letters, digits and _, optionally followed by **)', 2);
    bad('a/{x-y}', 'invalid part name "x-y" (letters, digits and _, optionally followed by **)', 2);
    bad('a/{x*}', 'invalid part name "x*" (letters, digits and _, optionally followed by **)', 2);
    bad('a/***', 'use * (within a segment) or ** (across segments)', 2);
    bad('{a}{b}', 'parts {a} and {b} must be separated by literal text', 3);
    bad('/abs/{x}', 'a key pattern must not start with "/" (S3 keys have no leading slash)', 0);
    bad('', 'empty key pattern', 0);
    bad('{meta}.jpg', '"meta" is reserved for templates; choose another part name', 0);
  });
});

const aoi: StreamConfig = {
  asset: 'line-1',
  stream_type: 'aoi-camera',
  key_pattern: 'line-1/{station}/{serial}_{taken_at}.{ext}',
  sidecar: {},
};
const video: StreamConfig = {
  asset: 'line-1',
  stream_type: 'inspection-video',
  key_pattern: 'line-1/video/{station}/{serial}_{taken_at}.{ext}',
  sidecar: { mode: 'replace', suffix: '.meta.json' },
};
const other: StreamConfig = { asset: 'line-2', stream_type: 'aoi-camera', key_pattern: 'line-2/**' };
const inBucket: StreamConfig = { asset: 'cell-9', stream_type: 'xray', key_pattern: '{serial}.png' };

const transmit = (name: string, filter_stream: string[], enabled?: boolean): DataTransmit => ({
  transmit_name: name,
  transmit_type: 'instrumental',
  filter_stream,
  base_url: 'http://127.0.0.1:1',
  fields: {},
  ...(enabled === undefined ? {} : { enabled }),
});

const config: RelayConfig = {
  version: 1,
  data_receiver: [
    { data_receiver_name: 'special', protocol: 's3', bucket: 'xray-bucket', streams: [inBucket] },
    { data_receiver_name: 'main', protocol: 's3', streams: [aoi, video, other] },
  ],
  data_transmit: [
    transmit('all', ['*']),
    transmit('aoi-only', ['line-1:aoi-camera']),
    transmit('line-1', ['line-1:*']),
    transmit('cameras', ['*:aoi-camera']),
    transmit('off', ['*'], false),
    transmit('on', ['*'], true),
    transmit('none', ['nope:nope']),
  ],
};

describe('matchStream', () => {
  it('returns the first matching stream with its parts', () => {
    const m = matchStream(config, 'ingest', 'line-1/aoi-top/SN1_20240315T101530.jpg');
    assert.equal(m?.stream, aoi);
    assert.equal(m?.receiver.data_receiver_name, 'main');
    assert.deepEqual(m?.parts, {
      station: 'aoi-top',
      serial: 'SN1',
      taken_at: '20240315T101530',
      ext: 'jpg',
    });
    assert.equal(matchStream(config, 'ingest', 'line-1/video/qa/SN1_2024.mp4')?.stream, video);
    assert.equal(matchStream(config, 'ingest', 'line-2/x/y/z.bin')?.stream, other);
    assert.equal(matchStream(config, 'ingest', 'elsewhere/a.jpg'), undefined);
  });

  it('honours the receiver bucket', () => {
    assert.equal(matchStream(config, 'ingest', 'SN9.png'), undefined);
    assert.deepEqual(matchStream(config, 'xray-bucket', 'SN9.png')?.parts, { serial: 'SN9' });
  });

  it('takes the earlier stream when two match', () => {
    const first: StreamConfig = { asset: 'a', stream_type: 'first', key_pattern: 'x/*.jpg' };
    const second: StreamConfig = { asset: 'a', stream_type: 'second', key_pattern: 'x/{n}.jpg' };
    const c: RelayConfig = {
      version: 1,
      data_receiver: [{ data_receiver_name: 'r', protocol: 's3', streams: [first, second] }],
      data_transmit: [],
    };
    assert.equal(matchStream(c, 'b', 'x/1.jpg')?.stream, first);
  });
});

describe('shape and sampleKeys', () => {
  it('patterns that differ only in part names have the same shape', () => {
    const shape = (p: string) => compileKeyPattern(p).shape;
    assert.equal(shape('line-1/{station}/{serial}_{taken_at}.{ext}'), shape('line-1/{st}/{sn}_{t}.{e}'));
    assert.notEqual(shape('line-1/{station}/{serial}_{taken_at}.{ext}'), shape('line-1/{st}/{sn}-{t}.{e}'));
    assert.notEqual(shape('{a}/{b}'), shape('{a**}/{b}'));
    assert.notEqual(shape('{a}.{b}'), shape('{a}.{b}/x'));
  });

  it('every sample is a key of the pattern, and the samples vary every piece', () => {
    for (const pattern of [
      'line-1/{station}/{serial}_{taken_at}.{ext}',
      '{path**}/{serial}.jpg',
      'cams/**/{serial}.{ext}',
      'cams/*/x**',
      '{{lit}}/{x}',
    ]) {
      const p = compileKeyPattern(pattern);
      const keys = sampleKeys(pattern);
      assert.ok(keys.length > 3, pattern);
      for (const k of keys) assert.ok(p.regex.test(k), `${pattern}: ${k}`);
    }
    const keys = sampleKeys('x/{a}.{ext}');
    assert.ok(keys.includes('x/u.v.a'), 'a part takes dots');
    assert.ok(sampleKeys('a/*/b').includes('a//b'), '* may be empty');
  });
});

describe('destinationsFor', () => {
  const names = (s: StreamConfig) => destinationsFor(config, s).map((t) => t.transmit_name);
  it('selects enabled transmits by filter_stream', () => {
    assert.deepEqual(names(aoi), ['all', 'aoi-only', 'line-1', 'cameras', 'on']);
    assert.deepEqual(names(video), ['all', 'line-1', 'on']);
    assert.deepEqual(names(other), ['all', 'cameras', 'on']);
  });

  it('parses filter entries', () => {
    assert.deepEqual(parseFilterEntry('*'), { asset: '*', stream_type: '*' });
    assert.deepEqual(parseFilterEntry('a:*'), { asset: 'a', stream_type: '*' });
    for (const bad of ['a', 'a:', ':b', 'a:b:c', '', '**'])
      assert.equal(parseFilterEntry(bad), undefined, bad);
    assert.equal(filterMatches('*:*', aoi), true);
    assert.equal(filterMatches('line-1', aoi), false);
  });
});

describe('sidecars', () => {
  it('sidecarKeyFor appends or replaces the extension', () => {
    assert.equal(sidecarKeyFor(aoi, 'line-1/s/a.jpg'), 'line-1/s/a.jpg.json');
    assert.equal(sidecarKeyFor(video, 'line-1/video/s/a_1.tar.mp4'), 'line-1/video/s/a_1.tar.meta.json');
    assert.equal(sidecarKeyFor(video, 'dir.x/noext'), 'dir.x/noext.meta.json');
    assert.equal(sidecarKeyFor(video, 'dir/.hidden'), 'dir/.hidden.meta.json');
    assert.equal(sidecarKeyFor({ sidecar: { suffix: '.yml' } }, 'k'), 'k.yml');
    assert.equal(sidecarKeyFor(other, 'line-2/a.jpg'), undefined);
  });

  it('isSidecarKey recognises sidecars of keys a stream with a sidecar matches', () => {
    assert.equal(isSidecarKey(config, 'line-1/aoi-top/SN1_2024.jpg.json'), true);
    assert.equal(isSidecarKey(config, 'line-1/aoi-top/SN1_2024.jpg'), false);
    assert.equal(isSidecarKey(config, 'line-1/aoi-top/notes.json'), false);
    assert.equal(isSidecarKey(config, 'line-1/video/qa/SN1_2024.meta.json'), true);
    assert.equal(isSidecarKey(config, 'line-1/video/qa/SN1_2024.mp4.json'), false);
    assert.equal(isSidecarKey(config, 'line-1/video/qa/SN1.meta.json'), false);
    // line-2 has no sidecar: its .json files are files.
    assert.equal(isSidecarKey(config, 'line-2/x.jpg.json'), false);
    assert.equal(isSidecarKey(config, '.json'), false);
  });

  it('isSidecarKey honours the receiver bucket', () => {
    const c: RelayConfig = {
      version: 1,
      data_receiver: [
        { data_receiver_name: 'r', protocol: 's3', bucket: 'b-one', streams: [{ ...inBucket, sidecar: {} }] },
      ],
      data_transmit: [],
    };
    assert.equal(isSidecarKey(c, 'SN.png.json', 'b-one'), true);
    assert.equal(isSidecarKey(c, 'SN.png.json', 'b-two'), false);
    assert.equal(isSidecarKey(c, 'SN.png.json'), true);
  });

  it('replace mode with a literal extension and with no extension in the pattern', () => {
    const lit: StreamConfig = {
      asset: 'a',
      stream_type: 'b',
      key_pattern: 'p/{serial}.jpg',
      sidecar: { mode: 'replace' },
    };
    const any: StreamConfig = {
      asset: 'a',
      stream_type: 'c',
      key_pattern: 'q/**',
      sidecar: { mode: 'replace' },
    };
    const c: RelayConfig = {
      version: 1,
      data_receiver: [{ data_receiver_name: 'r', protocol: 's3', streams: [lit, any] }],
      data_transmit: [],
    };
    assert.equal(isSidecarKey(c, 'p/SN1.json'), true);
    assert.equal(isSidecarKey(c, 'p/sub/SN1.json'), false);
    assert.equal(isSidecarKey(c, 'q/deep/x.json'), true);
    assert.equal(isSidecarKey(c, 'r/x.json'), false);
  });
});

describe('Unicode NFC and ignore in matching', () => {
  const cfg = (ignore?: string[]): RelayConfig => ({
    version: 1,
    data_receiver: [
      {
        data_receiver_name: 'r',
        protocol: 's3',
        ...(ignore ? { ignore } : {}),
        streams: [
          {
            asset: 'a',
            stream_type: 's',
            key_pattern: 'Prüfstand/{serial}_{taken_at}.{ext}',
            sidecar: { mode: 'append' },
          },
        ],
      },
    ],
    data_transmit: [],
  });

  it('an NFD key matches an NFC pattern (and an NFD pattern an NFC key); parts are NFC', () => {
    const m = matchStream(cfg(), 'b', 'Pru\u0308fstand/Mu\u0308ller-1_2024.jpg');
    assert.deepEqual(m?.parts, { serial: 'Müller-1', taken_at: '2024', ext: 'jpg' });
    const p = compileKeyPattern('Pru\u0308fstand/{serial}.{ext}');
    assert.equal(p.pattern, 'Prüfstand/{serial}.{ext}');
    assert.deepEqual(p.match('Prüfstand/x.jpg'), { serial: 'x', ext: 'jpg' });
  });

  it("an NFD file's sidecar is known, and its file named by the real key", () => {
    const key = 'Pru\u0308fstand/S1_2024.jpg';
    assert.equal(sidecarOwner(cfg(), `${key}.json`)?.fileKey, key);
  });

  it("a receiver's ignore takes keys out of its streams, and says which glob", () => {
    const key = 'Prüfstand/._S1_2024.jpg';
    assert.equal(matchStream(cfg(), 'b', key), undefined);
    assert.equal(ignoredBy(cfg(), 'b', key)?.glob, '**/._*');
    assert.equal(sidecarOwner(cfg(), `${key}.json`), undefined);
    assert.equal(matchStream(cfg([]), 'b', key)?.parts.serial, '.');
    assert.equal(ignoredBy(cfg([]), 'b', key), undefined);
  });

  it('forMatching writes key patterns, suffixes and globs in NFC', () => {
    const c = cfg(['**/Pru\u0308f*']);
    const s = c.data_receiver[0]?.streams[0];
    if (s) s.key_pattern = 'Pru\u0308fstand/{serial}';
    if (s) s.sidecar = { suffix: '.ju\u0308son' };
    const n = forMatching(c);
    assert.equal(n.data_receiver[0]?.streams[0]?.key_pattern, 'Prüfstand/{serial}');
    assert.equal(n.data_receiver[0]?.streams[0]?.sidecar?.suffix, '.jüson');
    assert.deepEqual(n.data_receiver[0]?.ignore, ['**/Prüf*']);
  });
});
