/**
 * Helpers every vendor plug-in shares, so that the same vendor answer means the same outcome everywhere.
 */
import { recorded } from '#commons/errors.ts';
import { tryJson } from '#commons/http.ts';
import { parseRetryAfter } from '#domain/backoff.ts';
import type { DeliveryOutcome, VendorAnswer } from './types.ts';

/**
 * A request that got no answer. Sent in full: the vendor may hold it (an ambiguous send, counted on the record
 * and recorded as NO_ANSWER); otherwise it surely did not reach the vendor whole (NETWORK_ERROR).
 */
export function noAnswer(
  vendor: string,
  answer: Extract<VendorAnswer, { kind: 'no-answer' }>,
): DeliveryOutcome {
  return answer.sentInFull
    ? {
        kind: 'retry',
        ambiguous: true,
        error: recorded(
          'NO_ANSWER',
          `${vendor} got the whole request but no answer came: ${answer.error.message}`,
        ),
      }
    : {
        kind: 'retry',
        error: recorded('NETWORK_ERROR', `request to ${vendor} failed: ${answer.error.message}`),
      };
}

/** 429 and 5xx: retried, honouring Retry-After when the vendor sent one. */
export function transient(
  vendor: string,
  answer: Extract<VendorAnswer, { kind: 'answer' }>,
  now = Date.now(),
): DeliveryOutcome {
  const retryAfterMs = parseRetryAfter(answer.headers['retry-after'], now);
  const error = recorded(
    answer.status === 429 ? 'RATE_LIMITED' : 'VENDOR_UNAVAILABLE',
    `${vendor} answered ${answer.status}${answer.text ? `: ${answer.text.slice(0, 200)}` : ''}`,
    { httpStatus: answer.status },
  );
  return retryAfterMs === undefined ? { kind: 'retry', error } : { kind: 'retry', error, retryAfterMs };
}

/** A JSON object body, or undefined. */
export function jsonObject(text: string): Record<string, unknown> | undefined {
  const v = tryJson(text);
  return v !== null && typeof v === 'object' && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}
