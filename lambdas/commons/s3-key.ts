/**
 * S3 event notifications carry object keys URL-encoded with `+` for a space (application/x-www-form-urlencoded
 * style). Decode exactly once: a key that really contains `%` or `+` arrives as `%25` / `%2B`.
 */
export function decodeS3EventKey(encoded: string): string {
  return decodeURIComponent(encoded.replace(/\+/g, ' '));
}
