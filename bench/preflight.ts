/**
 * Section 5: what the layout-independent pre-flight costs. Each file is put into the local S3 (fauxqs, versioned
 * bucket) and probed the way the forwarder will: one ranged GET for the head, then `jpegFrame` / `mp4Info` over
 * a CachingRangeReader of ranged GETs (S3Objects.range). Reports the verdict, the ranged reads after the head,
 * the bytes they returned, and the wall time of head + walk on loopback.
 */

import { S3Objects } from '#adapters/s3.ts';
import { isProbeError, jpegFrame, mp4Info } from '#commons/media.ts';
import { CachingRangeReader } from '#commons/range-reader.ts';
import { createLocalClients } from '#local/clients.ts';
import { startEmulators } from '#local/emulators.ts';
import { putObject } from '#local/ingest.ts';
import { createResources } from '#local/resources.ts';
import { makeJpegHeaderOnly, makeMp4 } from '#simulators/media/index.ts';
import type { ObjectRef } from '#vendors/types.ts';

const MiB = 1024 * 1024;

export interface PreflightRow {
  file: string;
  bytes: number;
  verdict: string;
  /** Ranged GETs after the head. */
  calls: number;
  readBytes: number;
  largest: number;
  ms: number;
}

interface Case {
  file: string;
  kind: 'jpeg' | 'mp4';
  make: () => Buffer;
}

const X = { width: 8000, height: 6000 };

const CASES: Case[] = [
  {
    file: '48 MP JPEG, SOF near the start (20 MB)',
    kind: 'jpeg',
    make: () => makeJpegHeaderOnly({ ...X, padToBytes: 20 * MiB }),
  },
  {
    file: '48 MP JPEG, SOF after 1 MB of COM',
    kind: 'jpeg',
    make: () => makeJpegHeaderOnly({ ...X, padToBytes: MiB, padAt: 'afterApp0' }),
  },
  {
    file: '48 MP JPEG, SOF after 20 000 tiny segments',
    kind: 'jpeg',
    make: () => makeJpegHeaderOnly({ ...X, padToBytes: 200_000, padAt: 'afterApp0', padSegmentBytes: 6 }),
  },
  {
    file: '48 MP JPEG, SOF after 49.9 MiB of COM (worst case)',
    kind: 'jpeg',
    make: () => makeJpegHeaderOnly({ ...X, padToBytes: 50 * MiB - 64 * 1024, padAt: 'afterApp0' }),
  },
  {
    file: 'JPEG cut before its SOF (600 KB)',
    kind: 'jpeg',
    make: () => makeJpegHeaderOnly({ ...X, padToBytes: MiB, padAt: 'afterApp0' }).subarray(0, 600_000),
  },
  {
    file: 'mp4v MP4, fast start (20 MB)',
    kind: 'mp4',
    make: () => makeMp4({ codec: 'mp4v', padToBytes: 20 * MiB }),
  },
  {
    file: 'mp4v MP4, moov after a 20 MB mdat',
    kind: 'mp4',
    make: () => makeMp4({ codec: 'mp4v', padToBytes: 20 * MiB, moovAtEnd: true }),
  },
  {
    file: 'avc1 MP4, sound track first, 64-bit mdat, moov last',
    kind: 'mp4',
    make: () =>
      makeMp4({
        codec: 'avc1',
        padToBytes: 20 * MiB,
        moovAtEnd: true,
        mdatLargeSize: true,
        audioTrackFirst: true,
      }),
  },
];

export async function runPreflight(headBytes: number): Promise<PreflightRow[]> {
  const emu = await startEmulators({ dynamodb: false });
  const clients = createLocalClients({
    s3: emu.s3Endpoint,
    sqs: emu.sqsEndpoint,
    secretsManager: emu.secretsEndpoint,
  });
  try {
    const res = await createResources({ clients, sqsEndpoint: emu.sqsEndpoint, table: false });
    const objects = new S3Objects(clients.relay.s3);
    const rows: PreflightRow[] = [];
    for (const [i, c] of CASES.entries()) {
      const body = c.make();
      const put = await putObject(
        clients.s3,
        res.buckets.ingest,
        `bench/preflight-${i}.${c.kind === 'jpeg' ? 'jpg' : 'mp4'}`,
        body,
      );
      const ref: ObjectRef = { bucket: res.buckets.ingest, ...put };
      const started = performance.now();
      const head = await objects.range(ref, 0, headBytes);
      const reader = new CachingRangeReader(
        { size: ref.size, read: (start, end) => objects.range(ref, start, end) },
        { head },
      );
      const result = c.kind === 'jpeg' ? await jpegFrame(reader) : await mp4Info(reader);
      const ms = performance.now() - started;
      let verdict: string;
      if (isProbeError(result)) verdict = result.error;
      else if ('codec' in result) verdict = result.codec;
      else verdict = `${result.width}x${result.height}`;
      rows.push({
        file: c.file,
        bytes: body.length,
        verdict,
        calls: reader.stats.calls,
        readBytes: reader.stats.bytes,
        largest: reader.stats.largest,
        ms,
      });
    }
    return rows;
  } finally {
    clients.destroy();
    await emu.stop();
  }
}
