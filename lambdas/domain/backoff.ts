/**
 * Retry delays: capped exponential backoff with full jitter, never shorter than what the vendor asked for
 * (Retry-After), and never shorter than `floorMs` (e.g. a rate limit's refill interval); never longer than the
 * queue can hold a message back (MAX_VISIBILITY_SECONDS): a retry comes back through SQS visibility, so a
 * longer wait (a Retry-After of years, an HTTP date far ahead) would be recorded but not waited.
 */
import { MAX_VISIBILITY_SECONDS } from './delivery.ts';

/** The longest retry delay: what the queue can actually wait. */
export const MAX_RETRY_DELAY_MS = MAX_VISIBILITY_SECONDS * 1000;

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
  const delay = Math.min(Math.max(jittered, floor), Math.max(policy.maxMs, retryAfterMs ?? 0));
  return Math.min(delay, MAX_RETRY_DELAY_MS);
}

/**
 * The wait the queue really makes for a requested delay: whole seconds rounded up (SQS counts visibility in
 * seconds), 0..MAX_VISIBILITY_SECONDS. The forwarder records `now + seconds × 1000` as the next send's time, so the
 * record says when the message actually comes back.
 */
export function queueDelaySeconds(delayMs: number): number {
  if (!(delayMs > 0)) return 0;
  return Math.min(MAX_VISIBILITY_SECONDS, Math.ceil(delayMs / 1000));
}
/** Parses a Retry-After header: delta seconds or an HTTP date. Undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
