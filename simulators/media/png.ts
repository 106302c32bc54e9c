import { PNG } from 'pngjs';
import { pixelAt } from './pattern.ts';

export interface PngOptions {
  width?: number;
  height?: number;
  seed?: number;
}

/** A real PNG (RGBA, same pattern as `makeJpeg`). Useful as "an image that is not a JPEG". */
export function makePng(options: PngOptions = {}): Buffer {
  const width = options.width ?? 64;
  const height = options.height ?? 48;
  const png = new PNG({ width, height });
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = pixelAt(x, y, width, height, options.seed ?? 1);
      const i = (y * width + x) * 4;
      png.data[i] = r;
      png.data[i + 1] = g;
      png.data[i + 2] = b;
      png.data[i + 3] = 255;
    }
  }
  return PNG.sync.write(png);
}

/** Starts with the PNG signature 89 50 4E 47 0D 0A 1A 0A. */
export function isPng(buf: Buffer): boolean {
  return buf.length >= 8 && buf.readUInt32BE(0) === 0x89504e47 && buf.readUInt32BE(4) === 0x0d0a1a0a;
}
