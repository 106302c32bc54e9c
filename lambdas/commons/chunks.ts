/**
 * Splits items, in order, into chunks of at most `maxCount` items and `maxBytes` of `sizeOf` in all; an item
 * larger than `maxBytes` goes alone. Used for a batching vendor's groups and for SQS's batch calls.
 */
export function chunksOf<T>(
  items: readonly T[],
  maxCount: number,
  maxBytes: number,
  sizeOf: (item: T) => number,
): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = sizeOf(item);
    if (current.length > 0 && (current.length >= maxCount || bytes + size > maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
