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

/** Any 2xx: the vendor took the request (a 201, 202, 204 or 207 as much as a 200); its body says the rest. */
export function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

/**
 * The answers that mean the same on every vendor's API call, before the plug-in's own reading (undefined for
 * any other status):
 * - 3xx: redirects are never followed (the API key must not go anywhere else), so the API is not at this
 *   base_url (moved, a proxy, http→https): a problem of the destination, not of the file. Held until the config
 *   is fixed (ENDPOINT_MOVED, naming the `Location` the vendor gave), never a REJECTED for every delivery.
 * - 408: the server (or a gateway in front of it) gave up on the request. It read at least the request's
 *   head; whether it read the whole body and acted on it (a gateway timing out on its upstream after passing
 *   the request on) cannot be told from an answer. So it is retried, and ambiguous unless the caller knows the
 *   vendor cannot have acted (`mayHaveActed: false`, e.g. a read-only call): the vendor may hold the file.
 */
export function destinationOrTimeout(
  vendor: string,
  answer: Extract<VendorAnswer, { kind: 'answer' }>,
  mayHaveActed = true,
): Extract<DeliveryOutcome, { kind: 'hold' | 'retry' }> | undefined {
  const { status } = answer;
  if (status >= 300 && status < 400) {
    const raw = answer.headers.location;
    const location = Array.isArray(raw) ? raw[0] : raw;
    return {
      kind: 'hold',
      error: recorded(
        'ENDPOINT_MOVED',
        `${vendor} answered ${status} ${location ? `to ${location}` : 'without a Location'}: redirects are not followed (the API key would go there too); base_url is probably wrong`,
        { httpStatus: status },
      ),
    };
  }
  if (status === 408) {
    const error = recorded(
      'REQUEST_TIMEOUT',
      `${vendor} answered 408 (it gave up on the request)${answer.text ? `: ${answer.text.slice(0, 200)}` : ''}`,
      { httpStatus: 408 },
    );
    return mayHaveActed ? { kind: 'retry', ambiguous: true, error } : { kind: 'retry', error };
  }
  return undefined;
}
