import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import {
  isEbml,
  isIsoBmff,
  isJpeg,
  isPng,
  makeJpeg,
  makeJpegHeaderOnly,
  makeMp4,
  makePng,
  makeWebm,
  readJpegInfo,
  readMp4Info,
} from './index.ts';

/** Independent check: the big-endian 16-bit numbers right after the first SOF0 marker (FF C0). */
function sof0(buf: Buffer): { width: number; height: number } {
  const at = buf.indexOf(Buffer.from([0xff, 0xc0]));
  assert.ok(at > 0, 'no SOF0 marker');
  return { height: buf.readUInt16BE(at + 5), width: buf.readUInt16BE(at + 7) };
}

/** Every segment between SOI and SOS has a marker and a length that lands on the next marker. */
function segmentsUntilSos(buf: Buffer): Array<{ marker: number; length: number }> {
  const out: Array<{ marker: number; length: number }> = [];
  let pos = 2;
  for (;;) {
    assert.equal(buf[pos], 0xff, `expected a marker at ${pos}`);
    const marker = buf[pos + 1] as number;
    const length = buf.readUInt16BE(pos + 2);
    out.push({ marker, length });
    if (marker === 0xda) return out;
    pos += 2 + length;
  }
}

describe('makeJpeg', () => {
  it('makes a decodable JPEG of the asked size with a visible pattern', () => {
    const buf = makeJpeg({ width: 96, height: 40 });
    assert.ok(isJpeg(buf));
    const img = jpeg.decode(buf);
    assert.equal(img.width, 96);
    assert.equal(img.height, 40);
    // not a flat image: the gradient makes the left and right edges differ
    const left = img.data[(20 * 96 + 1) * 4] as number;
    const right = img.data[(20 * 96 + 94) * 4] as number;
    assert.ok(Math.abs(left - right) > 60, `left ${left} right ${right}`);
    assert.deepEqual(readJpegInfo(buf), {
      width: 96,
      height: 40,
      sofMarker: 0xc0,
      offset: buf.indexOf(Buffer.from([0xff, 0xc0])),
    });
  });

  it('has a small default size and is deterministic per seed', () => {
    const a = makeJpeg();
    assert.deepEqual(sof0(a), { width: 64, height: 48 });
    assert.ok(a.length < 10_000);
    assert.deepEqual(makeJpeg({ seed: 3 }), makeJpeg({ seed: 3 }));
    assert.notDeepEqual(makeJpeg({ seed: 3 }), makeJpeg({ seed: 4 }));
  });

  it('pads with COM segments (each at most 65535 long), stays decodable and keeps SOF near the start', () => {
    const target = 3 * 1024 * 1024 + 7;
    const buf = makeJpeg({ width: 32, height: 24, padToBytes: target });
    assert.ok(buf.length >= target && buf.length < target + 4, `length ${buf.length}`);
    const segs = segmentsUntilSos(buf);
    const com = segs.filter((s) => s.marker === 0xfe);
    assert.ok(com.length >= 48);
    assert.ok(com.every((s) => s.length <= 65_535));
    const img = jpeg.decode(buf, { maxMemoryUsageInMB: 256 });
    assert.equal(img.width, 32);
    assert.equal(img.height, 24);
    const info = readJpegInfo(buf.subarray(0, 4096));
    assert.equal(info?.width, 32);
    assert.ok((info?.offset ?? 99_999) < 1024);
  });

  it('makes a 50 MB JPEG whose header is readable from its first 256 KB', () => {
    const target = 50 * 1024 * 1024;
    const buf = makeJpeg({ width: 64, height: 48, padToBytes: target });
    assert.equal(buf.length, target);
    assert.deepEqual(readJpegInfo(buf.subarray(0, 256 * 1024)), {
      width: 64,
      height: 48,
      sofMarker: 0xc0,
      offset: 154,
    });
    assert.deepEqual(buf.subarray(buf.length - 2), Buffer.from([0xff, 0xd9]));
  });

  it('can pad right after APP0 instead, pushing SOF past the padding', () => {
    const buf = makeJpeg({ width: 20, height: 10, padToBytes: 200_000, padAt: 'afterApp0' });
    assert.equal(buf.length, 200_000);
    const segs = segmentsUntilSos(buf);
    assert.equal(segs[0]?.marker, 0xe0);
    assert.equal(segs[1]?.marker, 0xfe);
    assert.equal(readJpegInfo(buf.subarray(0, 64 * 1024)), undefined);
    assert.equal(readJpegInfo(buf)?.width, 20);
    assert.equal(jpeg.decode(buf).height, 10);
  });

  it('can pad with APPn segments, and with many small segments', () => {
    const app2 = makeJpeg({
      width: 20,
      height: 10,
      padToBytes: 100_000,
      padAt: 'afterApp0',
      padMarker: 0xe2,
    });
    const segs = segmentsUntilSos(app2);
    assert.ok(segs.filter((s) => s.marker === 0xe2).length >= 2);
    assert.equal(readJpegInfo(app2)?.width, 20);
    const tiny = makeJpeg({
      width: 20,
      height: 10,
      padToBytes: 50_000,
      padAt: 'afterApp0',
      padSegmentBytes: 6,
    });
    assert.ok(tiny.length >= 50_000 && tiny.length < 50_004);
    const com = segmentsUntilSos(tiny).filter((s) => s.marker === 0xfe);
    assert.ok(com.length > 4000, `${com.length} segments`);
    assert.ok(com.every((s) => s.length <= 8));
    assert.equal(jpeg.decode(tiny).width, 20);
    assert.throws(() => makeJpeg({ padToBytes: 9000, padMarker: 0xc4 }), RangeError);
    assert.throws(() => makeJpeg({ padToBytes: 9000, padSegmentBytes: 70_000 }), RangeError);
  });

  it('refuses impossible sizes', () => {
    assert.throws(() => makeJpeg({ width: 0, height: 5 }), RangeError);
    assert.throws(() => makeJpegHeaderOnly({ width: 70_000, height: 5 }), RangeError);
  });
});

describe('makeJpegHeaderOnly', () => {
  it('declares 48 MP in SOF0 without encoding it', () => {
    const buf = makeJpegHeaderOnly({ width: 8000, height: 6000 });
    assert.ok(isJpeg(buf));
    assert.ok(buf.length < 4096);
    assert.deepEqual(sof0(buf), { width: 8000, height: 6000 });
    assert.equal(readJpegInfo(buf)?.width, 8000);
    assert.deepEqual(
      segmentsUntilSos(buf).map((s) => s.marker),
      [0xe0, 0xdb, 0xc0, 0xc4, 0xda],
    );
    assert.deepEqual(buf.subarray(buf.length - 2), Buffer.from([0xff, 0xd9]));
  });

  it('pads too', () => {
    const buf = makeJpegHeaderOnly({ width: 6528, height: 4896, padToBytes: 100_000 });
    assert.equal(buf.length, 100_000);
    assert.deepEqual(readJpegInfo(buf.subarray(0, 2048))?.height, 4896);
  });
});

describe('makePng', () => {
  it('makes a decodable PNG', () => {
    const buf = makePng({ width: 30, height: 20, seed: 2 });
    assert.ok(isPng(buf));
    assert.ok(!isJpeg(buf));
    const img = PNG.sync.read(buf);
    assert.equal(img.width, 30);
    assert.equal(img.height, 20);
  });
});

/** Independent walk: the path ftyp → moov/trak/mdia/minf/stbl/stsd and the first sample entry type. */
function stsdCodec(buf: Buffer): { top: string[]; codec: string } {
  const top: string[] = [];
  let pos = 0;
  let moov: Buffer | undefined;
  while (pos < buf.length) {
    const size = buf.readUInt32BE(pos);
    const type = buf.toString('latin1', pos + 4, pos + 8);
    assert.ok(size >= 8 && pos + size <= buf.length, `box ${type} at ${pos} has size ${size}`);
    top.push(type);
    if (type === 'moov') moov = buf.subarray(pos, pos + size);
    pos += size;
  }
  assert.equal(pos, buf.length, 'top-level boxes must tile the file');
  assert.ok(moov);
  const descend = (b: Buffer, start: number, path: string[]): Buffer => {
    if (path.length === 0) return b;
    let p = start;
    while (p < b.length) {
      const size = b.readUInt32BE(p);
      const type = b.toString('latin1', p + 4, p + 8);
      if (type === path[0]) return descend(b.subarray(p, p + size), 8, path.slice(1));
      p += size;
    }
    assert.fail(`no ${path[0]}`);
  };
  const stsd = descend(moov, 8, ['trak', 'mdia', 'minf', 'stbl', 'stsd']);
  assert.equal(stsd.toString('latin1', 4, 8), 'stsd');
  assert.equal(stsd.readUInt32BE(12), 1, 'one sample entry');
  const entrySize = stsd.readUInt32BE(16);
  assert.equal(16 + entrySize, stsd.length);
  return { top, codec: stsd.toString('latin1', 20, 24) };
}

describe('makeMp4', () => {
  for (const codec of ['avc1', 'mp4v', 'hvc1', 'vp09', 'av01'] as const) {
    it(`puts ${codec} in stsd with correct box sizes`, () => {
      const buf = makeMp4({ codec });
      assert.ok(isIsoBmff(buf));
      assert.deepEqual(stsdCodec(buf), { top: ['ftyp', 'moov', 'mdat'], codec });
      const info = readMp4Info(buf);
      assert.equal(info?.codec, codec);
      assert.equal(info?.width, 640);
      assert.equal(info?.complete, true);
    });
  }

  it('pads mdat and points stco at its payload', () => {
    const buf = makeMp4({ codec: 'avc1', padToBytes: 2_000_000, width: 1920, height: 1080 });
    assert.equal(buf.length, 2_000_000);
    assert.deepEqual(stsdCodec(buf).top, ['ftyp', 'moov', 'mdat']);
    const stco = buf.indexOf('stco', 0, 'latin1');
    const offset = buf.readUInt32BE(stco + 12);
    assert.equal(buf.toString('latin1', offset - 4, offset), 'mdat');
    const info = readMp4Info(buf.subarray(0, 256 * 1024), { size: buf.length });
    assert.deepEqual([info?.codec, info?.width, info?.height, info?.complete], ['avc1', 1920, 1080, true]);
  });

  it('can write moov at the end; the codec is then found with the tail', () => {
    const buf = makeMp4({ codec: 'mp4v', padToBytes: 1_000_000, moovAtEnd: true });
    assert.deepEqual(stsdCodec(buf), { top: ['ftyp', 'mdat', 'moov'], codec: 'mp4v' });
    const headOnly = readMp4Info(buf.subarray(0, 64 * 1024), { size: buf.length });
    assert.equal(headOnly?.moovParsed, false);
    assert.equal(headOnly?.complete, false);
    const withTail = readMp4Info(buf.subarray(0, 64 * 1024), {
      size: buf.length,
      tail: buf.subarray(buf.length - 4096),
    });
    assert.equal(withTail?.codec, 'mp4v');
  });

  it('writes a 64-bit mdat size, a size-0 mdat, and extra free/uuid boxes, keeping stco right', () => {
    const large = makeMp4({ codec: 'avc1', mdatLargeSize: true, padToBytes: 300_000, moovAtEnd: true });
    const at = large.indexOf('mdat', 0, 'latin1') - 4;
    assert.equal(large.readUInt32BE(at), 1);
    const mdatEnd = at + Number(large.readBigUInt64BE(at + 8));
    assert.equal(large.toString('latin1', mdatEnd + 4, mdatEnd + 8), 'moov');
    const chunk = large.readUInt32BE(large.indexOf('stco', 0, 'latin1') + 12);
    assert.equal(chunk, at + 16);
    assert.equal(readMp4Info(large)?.codec, 'avc1');

    const toEnd = makeMp4({ codec: 'hvc1', mdatToEnd: true, extraBoxes: [{ type: 'free', size: 100 }] });
    assert.equal(toEnd.readUInt32BE(toEnd.indexOf('mdat', 0, 'latin1') - 4), 0);
    assert.deepEqual(readMp4Info(toEnd)?.topLevel, ['ftyp', 'free', 'moov', 'mdat']);

    const extras = makeMp4({
      codec: 'mp4v',
      moovAtEnd: true,
      extraBoxes: [
        { type: 'uuid', size: 40 },
        { type: 'free', size: 8 },
      ],
    });
    const info = readMp4Info(extras);
    assert.deepEqual(info?.topLevel, ['ftyp', 'uuid', 'free', 'mdat', 'moov']);
    assert.equal(info?.codec, 'mp4v');
    const offset = extras.readUInt32BE(extras.indexOf('stco', 0, 'latin1') + 12);
    assert.equal(extras.toString('latin1', offset - 4, offset), 'mdat');
    assert.throws(() => makeMp4({ codec: 'avc1', mdatToEnd: true, moovAtEnd: true }), RangeError);
    assert.throws(() => makeMp4({ codec: 'avc1', extraBoxes: [{ type: 'uuid', size: 8 }] }), RangeError);
  });

  it('can put a sound track before the video track', () => {
    const buf = makeMp4({ codec: 'mp4v', audioTrackFirst: true, width: 320, height: 240 });
    const handlers = [...buf.toString('latin1').matchAll(/hdlr.{8}(vide|soun)/gs)].map((m) => m[1]);
    assert.deepEqual(handlers, ['soun', 'vide']);
    assert.ok(buf.indexOf('mp4a', 0, 'latin1') < buf.indexOf('mp4v', 0, 'latin1'));
    const info = readMp4Info(buf);
    assert.deepEqual([info?.codec, info?.width, info?.height], ['mp4v', 320, 240]);
  });

  it('is not mistaken for something else', () => {
    assert.equal(readMp4Info(makeJpeg()), undefined);
    assert.equal(isIsoBmff(makeWebm()), false);
  });
});

describe('makeWebm', () => {
  it('starts with the EBML magic and declares DocType webm', () => {
    const buf = makeWebm();
    assert.deepEqual(buf.subarray(0, 4), Buffer.from([0x1a, 0x45, 0xdf, 0xa3]));
    assert.ok(isEbml(buf));
    assert.ok(buf.includes(Buffer.from([0x42, 0x82, 0x84, 0x77, 0x65, 0x62, 0x6d])));
    assert.ok(!isEbml(makeMp4({ codec: 'vp09' })));
  });

  it('pads', () => {
    assert.equal(makeWebm({ padToBytes: 500_000 }).length, 500_000);
  });
});
