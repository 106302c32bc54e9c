/** RGB of a test pattern: a diagonal gradient, an 8-px checkerboard and a seeded tint. */
export function pixelAt(
  x: number,
  y: number,
  width: number,
  height: number,
  seed: number,
): [number, number, number] {
  const tint = (Math.imul(seed, 2654435761) >>> 0) % 256;
  const gx = Math.floor((x / Math.max(1, width - 1)) * 255);
  const gy = Math.floor((y / Math.max(1, height - 1)) * 255);
  const checker = ((x >> 3) + (y >> 3)) % 2 === 0 ? 63 : 0;
  if (Math.abs(x - y) < 2) return [255, 255, 255];
  return [(gx * 3 + tint) >> 2, ((gy * 3) >> 2) + checker, ((255 - gx) * 3 + (255 - tint)) >> 2];
}

const FILLER_TEXT = 'factory-relay test padding. ';
let fillerCache: Buffer | undefined;

/** `n` bytes of printable ASCII filler (cached up to the largest size asked for). */
export function fillerBytes(n: number): Buffer {
  if (!fillerCache || fillerCache.length < n) fillerCache = Buffer.alloc(Math.max(n, 65_536), FILLER_TEXT);
  return fillerCache.subarray(0, n);
}
