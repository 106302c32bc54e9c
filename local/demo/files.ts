/**
 * The demo files `npm start` / `npm run demo` upload, as a factory sync would, under keys that match the
 * streams of config/example.yaml:
 *
 *   line-1/{station}/{serial}_{taken_at}.{ext}          AOI camera stills (taken_at 20260105T081500Z)
 *   line-1/video/{station}/{serial}_{taken_at}.{ext}    inspection videos (taken_at 2026-01-05_08-15-00)
 *
 *   studio/{view}/{serial}_{taken_at}.{ext}             product photos → InstaVid360 background replacement
 *   yard/{camera}/{vin}_{taken_at}.{ext}                 yard photos → InstaVid360 licence plate anonymisation
 *
 * plus two deliberately bad files, so a newcomer sees how failures look: a PNG saved as `.jpg` (the
 * Instrumental plug-in's pre-flight refuses it: REJECTED NOT_A_JPEG; Edge Impulse and V7 read the type from
 * the content and take it) and a photo dropped outside any stream's folder layout (UNROUTED NO_MATCHING_STREAM).
 *
 * The stills go to Instrumental, Edge Impulse and V7; the video to Instrumental and V7.
 */
import jpeg from 'jpeg-js';
import type { DeliveryStatus } from '#domain/status.ts';
import { makeJpeg, makeMp4, makePng } from '#simulators/media/index.ts';

export interface Expectation {
  /** The terminal status every record of the file should reach (unless `destinations` says otherwise). */
  status: DeliveryStatus;
  /** The code that goes with it: the failure's lastError, or a notice (ALREADY_PRESENT). */
  code?: string;
  /** Per destination (transmit_name), where destinations of one file end differently. */
  destinations?: Record<string, { status: DeliveryStatus; code?: string }>;
}

export interface DemoFile {
  key: string;
  body: Buffer;
  contentType: string;
  /** Uploaded first, at `key + '.json'` (the example config's sidecar: mode append, suffix .json). */
  sidecar?: Record<string, unknown>;
  expect: Expectation;
  /** Why this file is in the demo, shown when it is uploaded (the bad ones). */
  note?: string;
}

const pad = (n: number) => String(n).padStart(2, '0');

/**
 * A product shot on a white studio sweep (what background replacement keys on): a car-like silhouette, its
 * colour from `seed`, on pure white, so InstaVid360's result visibly has the brand's backdrop instead.
 */
export function productPhoto(seed: number, width = 480, height = 320): Buffer {
  const data = Buffer.alloc(width * height * 4, 255);
  const paint = [
    [180, 30, 40],
    [30, 70, 160],
    [40, 120, 60],
  ][seed % 3] as number[];
  const set = (x: number, y: number, rgb: number[]) => {
    const i = (y * width + x) * 4;
    data[i] = rgb[0] as number;
    data[i + 1] = rgb[1] as number;
    data[i + 2] = rgb[2] as number;
  };
  const body = { x0: width * 0.15, x1: width * 0.85, y0: height * 0.45, y1: height * 0.7 };
  const cabin = { x0: width * 0.32, x1: width * 0.66, y0: height * 0.3, y1: height * 0.46 };
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const inBody = x >= body.x0 && x <= body.x1 && y >= body.y0 && y <= body.y1;
      const inCabin = x >= cabin.x0 && x <= cabin.x1 && y >= cabin.y0 && y <= cabin.y1;
      const wheel = [0.3, 0.7].some(
        (c) => (x - width * c) ** 2 + (y - height * 0.7) ** 2 <= (height * 0.09) ** 2,
      );
      if (wheel) set(x, y, [25, 25, 25]);
      else if (inCabin) set(x, y, [150, 190, 215]);
      else if (inBody) set(x, y, paint);
    }
  return Buffer.from(jpeg.encode({ data, width, height }, 88).data);
}

/** `20260105T081500Z` (the AOI stream's compact form). */
export function compactUtc(d: Date): string {
  return `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}T${pad(d.getUTCHours())}${pad(
    d.getUTCMinutes(),
  )}${pad(d.getUTCSeconds())}Z`;
}

/**
 * `2026-01-05_00-15-00`: the video stream's form, the wall clock of a camera in `zone` (no offset: the
 * example config's time_zone, vars.tz, places it).
 */
export function dashedWallClock(d: Date, zone: string): string {
  // sv-SE writes ISO-like "2026-01-05 00:15:00".
  return d.toLocaleString('sv-SE', { timeZone: zone }).replace(' ', '_').replaceAll(':', '-');
}

/** The demo set, timestamped a few minutes before `now` (as a sync would deliver a shift's last captures). */
export function demoFiles(now = new Date()): DemoFile[] {
  const at = (minutesAgo: number) => new Date(Math.floor(now.getTime() / 1000) * 1000 - minutesAgo * 60_000);
  const uploaded: Expectation = { status: 'UPLOADED' };
  return [
    {
      key: `line-1/aoi-top/SN-1001_${compactUtc(at(12))}.jpg`,
      body: makeJpeg({ width: 2048, height: 1536, seed: 11, quality: 90 }),
      contentType: 'image/jpeg',
      sidecar: {
        tz: 'America/Los_Angeles',
        tags: ['night-shift', 'demo'],
        configs: { camera: 'cam-7', exposure_ms: '12' },
        fixture: 'FX-2',
        // Edge Impulse: the inspection's verdict is the label, its box a bounding box.
        verdict: 'scratch',
        boxes: [{ label: 'scratch', x: 620, y: 410, width: 180, height: 42 }],
      },
      expect: uploaded,
    },
    {
      key: `line-1/aoi-top/SN-1002_${compactUtc(at(9))}.jpg`,
      body: makeJpeg({ width: 1600, height: 1200, seed: 12, quality: 85, padToBytes: 1_200_000 }),
      contentType: 'image/jpeg',
      expect: uploaded,
    },
    {
      key: `line-1/aoi-side/SN-1001_${compactUtc(at(7))}.jpg`,
      body: makeJpeg({ width: 1280, height: 960, seed: 13, quality: 85 }),
      contentType: 'image/jpeg',
      sidecar: {
        image_type: 'AOI side',
        parent: { unit_serial: 'PCBA-1001', relationship: 'main board' },
      },
      expect: uploaded,
    },
    {
      key: `line-1/video/final-qa/SN-1001_${dashedWallClock(at(5), 'America/Los_Angeles')}.mp4`,
      body: makeMp4({ codec: 'avc1', width: 1920, height: 1080, padToBytes: 2_500_000 }),
      contentType: 'video/mp4',
      sidecar: { tags: ['final-qa'], build: 'DVT-2' },
      expect: uploaded,
    },
    {
      key: `studio/front/SN-2001_${compactUtc(at(6))}.jpg`,
      body: productPhoto(0),
      contentType: 'image/jpeg',
      expect: { status: 'COMPLETED' },
    },
    {
      key: `studio/side/SN-2002_${compactUtc(at(6))}.jpg`,
      body: productPhoto(1),
      contentType: 'image/jpeg',
      expect: { status: 'COMPLETED' },
    },
    {
      key: `yard/gate-2/VIN1HGCM82633A004352_${compactUtc(at(4))}.jpg`,
      body: makeJpeg({ width: 640, height: 480, seed: 16, quality: 85 }),
      contentType: 'image/jpeg',
      expect: { status: 'COMPLETED' },
    },
    {
      key: `line-1/aoi-top/SN-1003_${compactUtc(at(3))}.jpg`,
      body: makePng({ width: 640, height: 480, seed: 14 }),
      contentType: 'image/jpeg',
      // Instrumental's pre-flight refuses it; Edge Impulse and V7 read the type from the content and take it.
      expect: {
        status: 'REJECTED',
        code: 'NOT_A_JPEG',
        destinations: { 'edge-impulse-demo': { status: 'UPLOADED' }, 'v7-demo': { status: 'UPLOADED' } },
      },
      note: 'deliberately bad for Instrumental: a PNG saved as .jpg (Edge Impulse and V7 take it)',
    },
    {
      key: 'line-1/IMG_0042.jpg',
      body: makeJpeg({ width: 1280, height: 960, seed: 15, quality: 85 }),
      contentType: 'image/jpeg',
      expect: { status: 'UNROUTED', code: 'NO_MATCHING_STREAM' },
      note: 'deliberately bad: no station folder, no serial_timestamp name',
    },
  ];
}
