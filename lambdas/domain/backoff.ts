/**
 * Retry delays: capped exponential backoff with full jitter, never shorter than what the vendor asked for
 * (Retry-After), and never shorter than `floorMs` (e.g. a rate limit's refill interval).
 */
export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  floorMs?: number;
}

export function retryDelayMs(
  attempt: number,
  policy: BackoffPolicy,
  retryAfterMs?: number,
  random: () => number = Math.random,
): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  const jittered = Math.floor(random() * exp);
  const floor = Math.max(policy.floorMs ?? 0, retryAfterMs ?? 0);
  return Math.min(Math.max(jittered, floor), Math.max(policy.maxMs, retryAfterMs ?? 0));
}

/** Parses a Retry-After header: delta seconds or an HTTP date. Undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
