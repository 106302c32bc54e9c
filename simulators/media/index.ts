/**
 * Test media for the demo, tests and benchmarks: small real JPEG/PNG files, header-only JPEGs that declare huge
 * sizes, minimal MP4/WebM containers, and the header readers the simulators use to validate them.
 * Every function is pure (no I/O).
 */
export {
  isJpeg,
  type JpegHeaderOnlyOptions,
  type JpegInfo,
  type JpegOptions,
  makeJpeg,
  makeJpegHeaderOnly,
  readJpegInfo,
} from './jpeg.ts';
export {
  type ByteWindows,
  isIsoBmff,
  type Mp4Codec,
  type Mp4Info,
  type Mp4Options,
  makeMp4,
  readMp4Info,
} from './mp4.ts';
export { isPng, makePng, type PngOptions } from './png.ts';
export { isEbml, makeWebm, type WebmOptions } from './webm.ts';
