import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  isProbeError,
  type JpegFrame,
  jpegDimensions,
  jpegFrame,
  type Mp4Video,
  mp4Info,
  mp4VideoCodec,
  type ProbeError,
} from '#commons/media.ts';
import {
  bufferReader,
  CachingRangeReader,
  type CachingReaderOptions,
  type RangeReader,
  ReadLimitError,
  type ReadStats,
} from '#commons/range-reader.ts';
import { makeJpeg, makeJpegHeaderOnly, makeMp4, makePng } from '#simulators/media/index.ts';

const KiB = 1024;
const MiB = 1024 * 1024;

/** A source that answers from memory and records every range it was asked for. */
function spySource(file: Buffer): RangeReader & { asked: Array<[number, number]> } {
  const asked: Array<[number, number]> = [];
  return {
    size: file.length,
    asked,
    read: async (start, end) => {
      asked.push([start, end]);
      return file.subarray(start, Math.min(end, file.length));
    },
  };
}

/** Runs a probe the way the forwarder will: the first `head` bytes already fetched, the rest by ranged reads. */
async function probe<T>(
  fn: (r: RangeReader) => Promise<T>,
  file: Buffer,
  head: number,
  options: CachingReaderOptions = {},
): Promise<{ result: T; stats: ReadStats }> {
  const reader = new CachingRangeReader(spySource(file), { head: file.subarray(0, head), ...options });
  return { result: await fn(reader), stats: reader.stats };
}

function frame(result: JpegFrame | ProbeError): JpegFrame {
  assert.ok(!isProbeError(result), `expected a frame, got ${JSON.stringify(result)}`);
  return result;
}

function failure(result: object): ProbeError {
  assert.ok(isProbeError(result), `expected an error, got ${JSON.stringify(result)}`);
  return result;
}

/** Independent of the code under test: the offset of every marker segment from SOI up to SOF/SOS. */
function segmentOffsets(buf: Buffer): number[] {
  const out: number[] = [];
  let pos = 2;
  for (;;) {
    out.push(pos);
    const marker = buf[pos + 1] as number;
    if (marker === 0xda || (marker >= 0xc0 && marker <= 0xc3)) return out;
    pos += 2 + buf.readUInt16BE(pos + 2);
  }
}

describe('CachingRangeReader', () => {
  const file = Buffer.from(Array.from({ length: 3 * MiB }, (_, i) => i % 251));

  it('serves the prefetched head for free, then reads windows that double at each miss', async () => {
    const src = spySource(file);
    const r = new CachingRangeReader(src, { head: file.subarray(0, 1000), readAhead: 4 * KiB });
    assert.deepEqual(await r.read(10, 20), file.subarray(10, 20));
    assert.equal(r.stats.calls, 0);
    assert.deepEqual(await r.read(5000, 5004), file.subarray(5000, 5004));
    assert.deepEqual(await r.read(9000, 9096), file.subarray(9000, 9096), 'served by the 4 KiB window');
    assert.deepEqual(await r.read(100_000, 100_004), file.subarray(100_000, 100_004));
    assert.deepEqual(await r.read(200_000, 200_004), file.subarray(200_000, 200_004));
    assert.deepEqual(src.asked, [
      [5000, 5000 + 4 * KiB],
      [100_000, 100_000 + 8 * KiB],
      [200_000, 200_000 + 16 * KiB],
    ]);
    assert.deepEqual(r.stats, {
      calls: 3,
      bytes: 28 * KiB,
      largest: 16 * KiB,
      ranges: src.asked,
    });
  });

  it('clips at the end of the object and never reads past it', async () => {
    const src = spySource(file);
    const r = new CachingRangeReader(src);
    assert.equal((await r.read(file.length - 3, file.length + 10)).length, 3);
    assert.equal((await r.read(file.length + 5, file.length + 10)).length, 0);
    assert.deepEqual(src.asked, [[file.length - 3, file.length]]);
  });

  it('stops at maxCalls with a ReadLimitError, and caps each read at maxReadAhead', async () => {
    const r = new CachingRangeReader(spySource(file), {
      maxCalls: 2,
      readAhead: 512 * KiB,
      maxReadAhead: MiB,
    });
    await r.read(0, 4);
    await r.read(MiB, MiB + 4);
    assert.deepEqual(r.stats.ranges, [
      [0, 512 * KiB],
      [MiB, 2 * MiB],
    ]);
    await assert.rejects(r.read(2.5 * MiB, 2.5 * MiB + 4), ReadLimitError);
    await assert.rejects(
      new CachingRangeReader(spySource(file), { maxReadAhead: MiB }).read(0, 2 * MiB),
      RangeError,
    );
    await assert.rejects(r.read(-1, 4), RangeError);
    await assert.rejects(r.read(8, 4), RangeError);
  });
});

describe('jpegFrame: the same verdict wherever the SOF sits', () => {
  const layouts = (width: number, height: number): Array<[string, Buffer]> => [
    ['SOF near the start, 3 MB of COM after it', makeJpegHeaderOnly({ width, height, padToBytes: 3 * MiB })],
    [
      'SOF after 1 MB of COM segments',
      makeJpegHeaderOnly({ width, height, padToBytes: MiB, padAt: 'afterApp0' }),
    ],
    [
      'SOF after 1 MB of APP2 segments',
      makeJpegHeaderOnly({ width, height, padToBytes: MiB, padAt: 'afterApp0', padMarker: 0xe2 }),
    ],
    [
      'SOF after 20 000 tiny COM segments',
      makeJpegHeaderOnly({ width, height, padToBytes: 200_000, padAt: 'afterApp0', padSegmentBytes: 6 }),
    ],
  ];

  for (const [width, height] of [
    [8000, 6000],
    [6528, 4896],
  ] as const) {
    for (const [name, file] of layouts(width, height)) {
      for (const head of [64 * KiB, 256 * KiB]) {
        it(`${width}x${height}, ${name}, ${head / KiB} KiB head: found in a few bounded reads`, async () => {
          const { result, stats } = await probe(jpegFrame, file, head);
          const f = frame(result);
          assert.deepEqual([f.width, f.height, f.sof], [width, height, 0xc0]);
          assert.equal(file[f.offset + 1], 0xc0);
          // the bound the reader documents: few calls, each ≤ the window cap, bytes ≤ 2 × the distance + 64 KiB
          assert.ok(stats.calls <= 4, `${stats.calls} calls`);
          assert.ok(stats.largest <= 512 * KiB, `largest read ${stats.largest}`);
          assert.ok(stats.bytes <= 2 * Math.max(0, f.offset - head) + 64 * KiB, `${stats.bytes} bytes`);
          assert.ok(stats.bytes < file.length, 'never the whole file');
        });
      }
    }
  }

  it('the head-only helper misses a deep SOF: the reason for jpegFrame', () => {
    const deep = makeJpegHeaderOnly({ width: 8000, height: 6000, padToBytes: MiB, padAt: 'afterApp0' });
    assert.equal(jpegDimensions(deep.subarray(0, 256 * KiB), deep.length), undefined);
    assert.deepEqual(jpegDimensions(deep), { width: 8000, height: 6000 });
    const near = makeJpegHeaderOnly({ width: 8000, height: 6000, padToBytes: MiB });
    assert.deepEqual(jpegDimensions(near.subarray(0, 256 * KiB), near.length), { width: 8000, height: 6000 });
  });

  it('the walk itself asks only for marker headers, never a segment body', async () => {
    const file = makeJpegHeaderOnly({ width: 8000, height: 6000, padToBytes: MiB, padAt: 'afterApp0' });
    // a window no bigger than a header: every ranged read shows what the walk asked for
    const { result, stats } = await probe(jpegFrame, file, 0, {
      readAhead: 16,
      maxReadAhead: 16,
      maxCalls: 100,
    });
    assert.equal(frame(result).width, 8000);
    const headers = new Set(segmentOffsets(file));
    const starts = stats.ranges.map(([start]) => start);
    assert.ok(
      starts.every((s) => s === 0 || headers.has(s)),
      `reads at ${starts.filter((s) => !headers.has(s))}`,
    );
    // one read per segment header up to the SOF's (the first, at 0, also holds SOI and the APP0 header)
    assert.equal(stats.calls, headers.size);
    assert.ok(stats.bytes < 400, `${stats.bytes} bytes of a ${file.length}-byte file`);
  });

  it('reaches a SOF behind 50 MB of COM segments within the default budget (16 reads)', async () => {
    const file = makeJpegHeaderOnly({
      width: 8000,
      height: 6000,
      padToBytes: 50 * MiB - 4096,
      padAt: 'afterApp0',
    });
    const { result, stats } = await probe(jpegFrame, file, 256 * KiB);
    assert.equal(frame(result).width, 8000);
    assert.ok(stats.calls <= 16, `${stats.calls} calls`);
    assert.ok(stats.largest <= 8 * MiB);
  });

  it('gives READ_LIMIT, not a verdict, when the budget is too small for the walk', async () => {
    const file = makeJpegHeaderOnly({ width: 8000, height: 6000, padToBytes: MiB, padAt: 'afterApp0' });
    const { result, stats } = await probe(jpegFrame, file, 64 * KiB, { maxCalls: 1 });
    const e = failure(result);
    assert.equal(e.error, 'READ_LIMIT');
    assert.match(e.message, /more than 1 ranged reads/);
    assert.equal(stats.calls, 1);
  });

  it('skips fill bytes and standalone markers', async () => {
    const base = makeJpeg({ width: 40, height: 30 });
    const at = segmentOffsets(base)[1] as number; // after APP0
    const file = Buffer.concat([
      base.subarray(0, at),
      Buffer.from([0xff, 0xff, 0xff, 0xd0]),
      base.subarray(at),
    ]);
    assert.deepEqual([frame((await probe(jpegFrame, file, 0)).result).width], [40]);
  });
});

describe('jpegFrame: no frame header, truncated or malformed', () => {
  const deep = makeJpegHeaderOnly({ width: 8000, height: 6000, padToBytes: MiB, padAt: 'afterApp0' });
  const sofAt = segmentOffsets(deep).at(-1) as number;

  it('NO_SOF for a JPEG cut before its SOF, however far in', async () => {
    for (const cut of [2, 3, 100, 600 * KiB, sofAt, sofAt + 1, sofAt + 6]) {
      const { result, stats } = await probe(jpegFrame, deep.subarray(0, cut), 64 * KiB);
      assert.equal(failure(result).error, 'NO_SOF', `cut at ${cut}`);
      assert.ok(stats.calls <= 4, `cut at ${cut}: ${stats.calls} calls`);
    }
    assert.equal(frame((await probe(jpegFrame, deep.subarray(0, sofAt + 9), 0)).result).width, 8000);
  });

  it('NO_SOF when EOI or SOS comes first', async () => {
    const eoi = failure((await probe(jpegFrame, Buffer.from([0xff, 0xd8, 0xff, 0xd9]), 0)).result);
    assert.deepEqual([eoi.error, eoi.offset], ['NO_SOF', 2]);
    assert.match(eoi.message, /EOI/);
    const jpeg = makeJpeg({ width: 16, height: 16 });
    const sof = segmentOffsets(jpeg).find((o) => jpeg[o + 1] === 0xc0) as number;
    const noFrame = Buffer.concat([
      jpeg.subarray(0, sof),
      jpeg.subarray(sof + 2 + jpeg.readUInt16BE(sof + 2)),
    ]);
    const sos = failure((await probe(jpegFrame, noFrame, 0)).result);
    assert.equal(sos.error, 'NO_SOF');
    assert.match(sos.message, /SOS/);
  });

  it('MALFORMED_SEGMENT for a broken marker or length, NOT_A_JPEG for another format', async () => {
    const jpeg = makeJpeg({ width: 16, height: 16 });
    const second = segmentOffsets(jpeg)[1] as number;
    const noMarker = Buffer.from(jpeg);
    noMarker[second] = 0x00;
    assert.equal(failure((await probe(jpegFrame, noMarker, 0)).result).error, 'MALFORMED_SEGMENT');
    const shortLength = Buffer.from(jpeg);
    shortLength.writeUInt16BE(1, second + 2);
    const e = failure((await probe(jpegFrame, shortLength, 0)).result);
    assert.deepEqual([e.error, e.offset], ['MALFORMED_SEGMENT', second]);
    const shortSof = Buffer.from(jpeg);
    const sof = segmentOffsets(jpeg).find((o) => jpeg[o + 1] === 0xc0) as number;
    shortSof.writeUInt16BE(7, sof + 2);
    assert.equal(failure((await probe(jpegFrame, shortSof, 0)).result).error, 'MALFORMED_SEGMENT');
    assert.equal(
      failure((await probe(jpegFrame, makePng({ width: 4, height: 4 }), 0)).result).error,
      'NOT_A_JPEG',
    );
  });
});

/** A RangeReader over a file too big to hold: the given pieces at their offsets, zeros elsewhere. */
function sparseReader(size: number, pieces: Array<[number, Buffer]>): RangeReader & { asked: number } {
  const reader = {
    size,
    asked: 0,
    read: async (start: number, end: number) => {
      reader.asked++;
      const out = Buffer.alloc(Math.min(end, size) - start);
      for (const [at, bytes] of pieces) {
        const from = Math.max(start, at);
        const to = Math.min(start + out.length, at + bytes.length);
        if (from < to) bytes.copy(out, from - start, from - at, to - at);
      }
      return out;
    },
  };
  return reader;
}

/** The mdat box's payload range, found independently of the code under test (the first 'mdat' type). */
function mdatPayload(file: Buffer): [number, number] {
  const at = file.indexOf('mdat', 0, 'latin1') - 4;
  const size32 = file.readUInt32BE(at);
  if (size32 === 1) return [at + 16, at + Number(file.readBigUInt64BE(at + 8))];
  return [at + 8, size32 === 0 ? file.length : at + size32];
}

describe('mp4Info: the same verdict wherever moov sits', () => {
  const big = 2 * MiB;
  const layouts: Array<[string, Parameters<typeof makeMp4>[0] extends infer O ? Omit<O, 'codec'> : never]> = [
    ['fast start', { padToBytes: big }],
    ['moov after a 2 MB mdat', { padToBytes: big, moovAtEnd: true }],
    ['moov after a 64-bit-size mdat', { padToBytes: big, moovAtEnd: true, mdatLargeSize: true }],
    [
      'free and uuid boxes, moov at the end',
      {
        padToBytes: big,
        moovAtEnd: true,
        extraBoxes: [
          { type: 'free', size: 4000 },
          { type: 'uuid', size: 200 },
        ],
      },
    ],
    [
      'a sound track before the video track, moov at the end',
      { padToBytes: big, moovAtEnd: true, audioTrackFirst: true },
    ],
    ['a size-0 mdat (to the end of the file) after moov', { padToBytes: big, mdatToEnd: true }],
  ];

  for (const codec of ['mp4v', 'avc1'] as const) {
    for (const [name, options] of layouts) {
      it(`${codec}, ${name}: found reading box headers only`, async () => {
        const file = makeMp4({ codec, ...options });
        const { result, stats } = await probe(mp4Info, file, 64 * KiB);
        assert.ok(!isProbeError(result), JSON.stringify(result));
        assert.deepEqual(
          [result.codec, result.width, result.height, result.checkedToEnd],
          [codec, 640, 480, true],
        );
        assert.equal(result.track, options.audioTrackFirst ? 1 : 0);
        assert.equal(file.toString('latin1', result.moovOffset + 4, result.moovOffset + 8), 'moov');
        assert.ok(stats.calls <= 1, `${stats.calls} calls`);
        assert.ok(stats.bytes <= 64 * KiB, `${stats.bytes} bytes`);
        const [payload, payloadEnd] = mdatPayload(file);
        for (const [start] of stats.ranges) {
          assert.ok(start < payload || start >= payloadEnd, `a read starts inside mdat at ${start}`);
        }
      });
    }
  }

  it('jumps a 5 GB mdat (64-bit size) to a moov at the end in one small read', async () => {
    const small = makeMp4({ codec: 'mp4v', moovAtEnd: true, mdatLargeSize: true });
    const [payload, payloadEnd] = mdatPayload(small);
    const moov = small.subarray(payloadEnd);
    const mdatSize = 5_000_000_000;
    const header = Buffer.from(small.subarray(0, payload));
    header.writeBigUInt64BE(BigInt(mdatSize), payload - 8);
    const moovAt = payload - 16 + mdatSize;
    const source = sparseReader(moovAt + moov.length, [
      [0, header],
      [moovAt, moov],
    ]);
    const reader = new CachingRangeReader(source);
    const result = await mp4Info(reader);
    assert.ok(!isProbeError(result), JSON.stringify(result));
    assert.deepEqual([result.codec, result.moovOffset, result.checkedToEnd], ['mp4v', moovAt, true]);
    assert.equal(source.asked, 2);
    assert.ok(reader.stats.bytes < 70 * KiB, `${reader.stats.bytes} bytes`);
  });

  it('the head-only helper misses a moov at the end: the reason for mp4Info', () => {
    const file = makeMp4({ codec: 'mp4v', padToBytes: big, moovAtEnd: true });
    assert.equal(mp4VideoCodec(file.subarray(0, 256 * KiB), file.length), undefined);
    assert.equal(mp4VideoCodec(file), 'mp4v');
    const fast = makeMp4({ codec: 'mp4v', padToBytes: big });
    assert.equal(mp4VideoCodec(fast.subarray(0, 256 * KiB), fast.length), 'mp4v');
    // as the Instrumental plug-in calls it today: the head alone, the file size unknown
    assert.equal(mp4VideoCodec(fast.subarray(0, 256 * KiB)), 'mp4v');
  });

  it('keeps the verdict and says so when the end cannot be checked (trailing bytes, read budget)', async () => {
    const file = makeMp4({ codec: 'mp4v' });
    const trailing = (await probe(mp4Info, Buffer.concat([file, Buffer.alloc(4)]), 0)).result as Mp4Video;
    assert.deepEqual([trailing.codec, trailing.checkedToEnd], ['mp4v', false]);
    const frees = Array.from({ length: 40 }, () => makeFree(300 * KiB));
    const long = Buffer.concat([file, ...frees]);
    const { result, stats } = await probe(mp4Info, long, 64 * KiB, { maxCalls: 2 });
    assert.deepEqual([(result as Mp4Video).codec, (result as Mp4Video).checkedToEnd], ['mp4v', false]);
    assert.equal(stats.calls, 2);
  });
});

function makeFree(size: number): Buffer {
  const b = Buffer.alloc(size);
  b.writeUInt32BE(size, 0);
  b.write('free', 4, 'latin1');
  return b;
}

describe('mp4Info: truncated or malformed files', () => {
  const atEnd = makeMp4({ codec: 'mp4v', padToBytes: MiB, moovAtEnd: true });
  const fast = makeMp4({ codec: 'mp4v', padToBytes: MiB });
  const moovAt = atEnd.indexOf('moov', 0, 'latin1') - 4;

  it('TRUNCATED when the file is cut inside mdat or moov, whichever comes first', async () => {
    for (const [name, file] of [
      ['moov at the end, cut in mdat', atEnd.subarray(0, 500 * KiB)],
      ['moov at the end, cut in moov', atEnd.subarray(0, moovAt + 100)],
      ['moov at the end, cut in its header', atEnd.subarray(0, moovAt + 4)],
      ['fast start, cut in mdat', fast.subarray(0, 500 * KiB)],
    ] as const) {
      const { result, stats } = await probe(mp4Info, file, 64 * KiB);
      assert.equal(failure(result).error, 'TRUNCATED', name);
      assert.ok(stats.calls <= 1, `${name}: ${stats.calls} calls`);
    }
  });

  it('NO_MOOV, NO_VIDEO_TRACK, NO_SAMPLE_ENTRY', async () => {
    const noMoov = Buffer.concat([atEnd.subarray(0, moovAt), makeFree(64)]);
    assert.equal(failure((await probe(mp4Info, noMoov, 0)).result).error, 'NO_MOOV');
    const noVideo = Buffer.from(atEnd);
    noVideo.write('soun', noVideo.indexOf('vide', moovAt, 'latin1'), 'latin1');
    assert.equal(failure((await probe(mp4Info, noVideo, 0)).result).error, 'NO_VIDEO_TRACK');
    const noEntry = Buffer.from(atEnd);
    noEntry.writeUInt32BE(0, noEntry.indexOf('stsd', moovAt, 'latin1') + 8);
    assert.equal(failure((await probe(mp4Info, noEntry, 0)).result).error, 'NO_SAMPLE_ENTRY');
  });

  it('MALFORMED_BOX for a size under the header, a type that is not a 4CC, a child overrunning its parent', async () => {
    const tiny = Buffer.from(atEnd);
    tiny.writeUInt32BE(4, moovAt);
    assert.equal(failure((await probe(mp4Info, tiny, 0)).result).error, 'MALFORMED_BOX');
    const garbage = Buffer.from(atEnd);
    garbage.writeUInt32BE(0x00ff0102, moovAt + 4);
    assert.equal(failure((await probe(mp4Info, garbage, 0)).result).error, 'MALFORMED_BOX');
    const overrun = Buffer.from(atEnd);
    const trak = overrun.indexOf('trak', moovAt, 'latin1') - 4;
    overrun.writeUInt32BE(overrun.readUInt32BE(trak) + 100, trak);
    const e = failure((await probe(mp4Info, overrun, 0)).result);
    assert.equal(e.error, 'MALFORMED_BOX');
    assert.match(e.message, /past the end of its parent 'moov'/);
  });

  it('READ_LIMIT when the budget allows no read beyond the head', async () => {
    const e = failure((await probe(mp4Info, atEnd, 64 * KiB, { maxCalls: 0 })).result);
    assert.equal(e.error, 'READ_LIMIT');
  });

  it('wraps a plain reader in a CachingRangeReader, so a caller cannot forget the bound', async () => {
    const src = spySource(atEnd);
    const result = await mp4Info(src);
    assert.equal((result as Mp4Video).codec, 'mp4v');
    assert.equal(src.asked.length, 2);
    const jpeg = makeJpegHeaderOnly({ width: 8000, height: 6000, padToBytes: MiB, padAt: 'afterApp0' });
    const plain = bufferReader(jpeg);
    assert.equal(frame(await jpegFrame(plain)).width, 8000);
  });
});
