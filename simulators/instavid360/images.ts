import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import {
  JPEG_QUALITY,
  LPA_BLOCK_DIVISOR,
  LPA_RECT,
  NEAR_WHITE_THRESHOLD,
  SHADOW_OFFSET,
  SHADOW_STRENGTH,
} from './assumptions.ts';

export type ImageType = 'image/jpeg' | 'image/png';

/** A decoded image: 8-bit RGBA, row-major. */
export interface Rgba {
  width: number;
  height: number;
  data: Uint8Array;
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Tells JPEG and PNG apart by their magic bytes. */
export function sniffImageType(head: Buffer): ImageType | undefined {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'image/jpeg';
  if (head.length >= 8 && head.subarray(0, 8).equals(PNG_MAGIC)) return 'image/png';
  return undefined;
}

export function extensionOf(type: ImageType): 'jpg' | 'png' {
  return type === 'image/jpeg' ? 'jpg' : 'png';
}

/** Reads the width and height from the image header without decoding the pixels. */
export function imageDimensions(
  bytes: Buffer,
  type: ImageType,
): { width: number; height: number } | undefined {
  if (type === 'image/png') {
    if (bytes.length < 24 || bytes.toString('latin1', 12, 16) !== 'IHDR') return undefined;
    const width = bytes.readUInt32BE(16);
    const height = bytes.readUInt32BE(20);
    return width > 0 && height > 0 ? { width, height } : undefined;
  }
  let i = 2;
  while (i + 4 <= bytes.length) {
    if (bytes[i] !== 0xff) return undefined;
    const marker = bytes[i + 1] as number;
    if (marker === 0xff) {
      i += 1; // fill byte
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      i += 2; // standalone marker
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) return undefined; // end of image / scan before any frame header
    const length = bytes.readUInt16BE(i + 2);
    const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isFrame) {
      if (i + 9 > bytes.length) return undefined;
      const height = bytes.readUInt16BE(i + 5);
      const width = bytes.readUInt16BE(i + 7);
      return width > 0 && height > 0 ? { width, height } : undefined;
    }
    i += 2 + length;
  }
  return undefined;
}

export function decodeImage(bytes: Buffer, type: ImageType): Rgba {
  if (type === 'image/jpeg') {
    const img = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: true,
      maxResolutionInMP: 50,
      maxMemoryUsageInMB: 512,
    });
    return { width: img.width, height: img.height, data: img.data };
  }
  const png = PNG.sync.read(bytes);
  return { width: png.width, height: png.height, data: new Uint8Array(png.data) };
}

export function encodeImage(img: Rgba, type: ImageType, quality = JPEG_QUALITY): Buffer {
  if (type === 'image/jpeg') {
    return jpeg.encode({ width: img.width, height: img.height, data: img.data }, quality).data;
  }
  const png = new PNG({ width: img.width, height: img.height });
  Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength).copy(png.data);
  return PNG.sync.write(png);
}

/** Nearest-neighbour resize to `width` × `height` (returns the image itself when it already has that size). */
export function resize(img: Rgba, width: number, height: number): Rgba {
  if (img.width === width && img.height === height) return img;
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(img.height - 1, Math.floor((y * img.height) / height));
    for (let x = 0; x < width; x++) {
      const sx = Math.min(img.width - 1, Math.floor((x * img.width) / width));
      const s = (sy * img.width + sx) * 4;
      const d = (y * width + x) * 4;
      data[d] = img.data[s] as number;
      data[d + 1] = img.data[s + 1] as number;
      data[d + 2] = img.data[s + 2] as number;
      data[d + 3] = img.data[s + 3] as number;
    }
  }
  return { width, height, data };
}

/** Foreground weight in [0,1] of each pixel: its alpha, except that near-white pixels count as background. */
export function foregroundMask(img: Rgba, threshold = NEAR_WHITE_THRESHOLD): Float32Array {
  const mask = new Float32Array(img.width * img.height);
  for (let p = 0; p < mask.length; p++) {
    const i = p * 4;
    const r = img.data[i] as number;
    const g = img.data[i + 1] as number;
    const b = img.data[i + 2] as number;
    const a = img.data[i + 3] as number;
    const nearWhite = r >= threshold && g >= threshold && b >= threshold;
    mask[p] = nearWhite ? 0 : a / 255;
  }
  return mask;
}

/**
 * Background replacement: the original's foreground over the (resized) background, plus an optional shadow and
 * an optional overlay on top. The output has the original's size.
 */
export function replaceBackground(
  original: Rgba,
  background: Rgba,
  overlay: Rgba | undefined,
  options: { shadow: boolean },
): Rgba {
  const { width, height } = original;
  const bg = resize(background, width, height);
  const fg = foregroundMask(original);
  const out = new Uint8Array(width * height * 4);
  const dx = Math.max(1, Math.round(width * SHADOW_OFFSET.x));
  const dy = Math.max(1, Math.round(height * SHADOW_OFFSET.y));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const i = p * 4;
      const w = fg[p] as number;
      let shade = 1;
      if (options.shadow && x >= dx && y >= dy) {
        shade = 1 - SHADOW_STRENGTH * (fg[(y - dy) * width + (x - dx)] as number);
      }
      for (let c = 0; c < 3; c++) {
        const under = (bg.data[i + c] as number) * shade;
        out[i + c] = Math.round(w * (original.data[i + c] as number) + (1 - w) * under);
      }
      out[i + 3] = Math.round(w * 255 + (1 - w) * (bg.data[i + 3] as number));
    }
  }
  const result: Rgba = { width, height, data: out };
  if (overlay) {
    const ov = resize(overlay, width, height);
    const ovMask = foregroundMask(ov);
    for (let p = 0; p < ovMask.length; p++) {
      const w = ovMask[p] as number;
      if (w === 0) continue;
      const i = p * 4;
      for (let c = 0; c < 3; c++) {
        out[i + c] = Math.round(w * (ov.data[i + c] as number) + (1 - w) * (out[i + c] as number));
      }
      out[i + 3] = Math.round(w * 255 + (1 - w) * (out[i + 3] as number));
    }
  }
  return result;
}

/** Where the simulator "finds" the licence plate in an image of this size (see LPA_RECT). */
export function lpaRect(width: number, height: number): Rect {
  const x = Math.floor(width * LPA_RECT.x);
  const y = Math.floor(height * LPA_RECT.y);
  return {
    x,
    y,
    width: Math.max(1, Math.min(width - x, Math.round(width * LPA_RECT.width))),
    height: Math.max(1, Math.min(height - y, Math.round(height * LPA_RECT.height))),
  };
}

export function lpaBlockSize(rect: Rect): number {
  return Math.max(2, Math.round(Math.min(rect.width, rect.height) / LPA_BLOCK_DIVISOR));
}

/** Licence plate anonymisation: pixelates `rect` (each block takes its mean colour); the rest is untouched. */
export function pixelate(img: Rgba, rect: Rect, block = lpaBlockSize(rect)): Rgba {
  const data = new Uint8Array(img.data);
  const x1 = Math.min(img.width, rect.x + rect.width);
  const y1 = Math.min(img.height, rect.y + rect.height);
  for (let by = rect.y; by < y1; by += block) {
    for (let bx = rect.x; bx < x1; bx += block) {
      const ex = Math.min(x1, bx + block);
      const ey = Math.min(y1, by + block);
      const sum = [0, 0, 0, 0];
      let n = 0;
      for (let y = by; y < ey; y++) {
        for (let x = bx; x < ex; x++) {
          const i = (y * img.width + x) * 4;
          for (let c = 0; c < 4; c++) sum[c] = (sum[c] as number) + (img.data[i + c] as number);
          n++;
        }
      }
      for (let y = by; y < ey; y++) {
        for (let x = bx; x < ex; x++) {
          const i = (y * img.width + x) * 4;
          for (let c = 0; c < 4; c++) data[i + c] = Math.round((sum[c] as number) / n);
        }
      }
    }
  }
  return { width: img.width, height: img.height, data };
}
