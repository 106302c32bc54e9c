/**
 * What a V7 answer means for a delivery (../shared/vendor-contracts.md §2.1 "Errors and retry"):
 * 401 → hold; 404 of a team, dataset or storage → hold; 429 INSUFFICIENT_REMAINING_STORAGE → hold;
 * 422 → REJECTED with V7's errors; other 429 and 5xx → retry, honouring Retry-After; no answer → retry;
 * 3xx → hold (ENDPOINT_MOVED) and 408 → retry, as for every vendor (../common.ts).
 */
import { recorded } from '#commons/errors.ts';
import type { RecordedError } from '#domain/status.ts';
import { destinationOrTimeout, jsonObject, noAnswer, transient } from '../common.ts';
import type { DeliveryOutcome, VendorAnswer } from '../types.ts';
import { V7_ASSUMPTIONS } from './assumptions.ts';

export type Answered = Extract<VendorAnswer, { kind: 'answer' }>;

/** The `errors` object of a V7 error body (`{"errors":{code, message, <field>: [..]}}`), if any. */
export function errorsOf(text: string): Record<string, unknown> | undefined {
  const body = jsonObject(text);
  const errors = body?.errors;
  return errors !== null && typeof errors === 'object' && !Array.isArray(errors)
    ? (errors as Record<string, unknown>)
    : undefined;
}

export function vendorCodeOf(text: string): string | undefined {
  const code = errorsOf(text)?.code;
  return typeof code === 'string' && code ? code : undefined;
}

/** `items[0].slots[0].file_name: can't be blank; dataset_slug: is invalid` (code and message left out). */
export function fieldErrors(errors: Record<string, unknown>, only?: (key: string) => boolean): string {
  return Object.entries(errors)
    .filter(([k]) => k !== 'code' && k !== 'message' && (!only || only(k)))
    .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : String(v)}`)
    .join('; ');
}

function describe(answer: Answered): string {
  const errors = errorsOf(answer.text);
  if (!errors) return answer.text.slice(0, 300);
  const parts = [errors.code, errors.message, fieldErrors(errors)].filter(
    (p): p is string => typeof p === 'string' && p !== '',
  );
  return parts.join(': ');
}

function error(code: string, what: string, answer: Answered): RecordedError {
  const vendorCode = vendorCodeOf(answer.text);
  const detail = describe(answer);
  return recorded(code, `${what}: V7 answered ${answer.status}${detail ? ` ${detail}` : ''}`, {
    httpStatus: answer.status,
    ...(vendorCode ? { vendorCode } : {}),
  });
}

export function isStorageExhausted(answer: Answered): boolean {
  return answer.status === 429 && vendorCodeOf(answer.text) === 'INSUFFICIENT_REMAINING_STORAGE';
}

/** 429 (not storage) and 5xx: V7 or the network had a bad moment. */
export function isTransient(answer: Answered): boolean {
  return (answer.status === 429 && !isStorageExhausted(answer)) || answer.status >= 500;
}

/** What the 404 names, from V7's message ("dataset not found"). */
function notFoundCode(answer: Answered): string {
  const message = String(errorsOf(answer.text)?.message ?? '');
  const what = /\b(team|dataset|storage)\b/i.exec(message)?.[1]?.toUpperCase();
  return what ? `${what}_NOT_FOUND` : 'NOT_FOUND';
}

export type Route = 'register' | 'sign' | 'confirm';

/**
 * The outcome of a V7 /api answer that is not a success. `route` decides what a 404 means: the register routes
 * name the destination's team, dataset and storage (a hold); sign and confirm name one upload.
 */
export function failure(answer: VendorAnswer, route: Route, now: number): DeliveryOutcome {
  if (answer.kind === 'no-answer') return noAnswer('V7', answer);
  const what = route === 'register' ? 'register' : `${route} upload`;
  const { status } = answer;
  // A redirect holds the destination; a 408 is retried (ambiguous unless the call was a read-only sign).
  const common = destinationOrTimeout('V7', answer, route !== 'sign');
  if (common) return common;
  if (status === 401) {
    return { kind: 'hold', error: error('AUTH_FAILED', `V7 refused the API key (${what})`, answer) };
  }
  if (status === 404) {
    const message = String(errorsOf(answer.text)?.message ?? '');
    if (route === 'register' || V7_ASSUMPTIONS.teamNotFound.test(message)) {
      return {
        kind: 'hold',
        error: error(
          notFoundCode(answer),
          `${what}: check team_slug, dataset_slug and storage_slug of this destination`,
          answer,
        ),
      };
    }
    return { kind: 'rejected', error: error('UPLOAD_NOT_FOUND', `${what}: V7 no longer knows it`, answer) };
  }
  if (isStorageExhausted(answer)) {
    return {
      kind: 'hold',
      error: error('STORAGE_EXHAUSTED', `${what}: the V7 team has no storage left`, answer),
    };
  }
  if (isTransient(answer)) {
    const t = transient('V7', answer, now);
    if (t.kind !== 'retry') return t;
    const vendorCode = vendorCodeOf(answer.text);
    return { ...t, error: { ...t.error, ...(vendorCode ? { vendorCode } : {}) } };
  }
  if (status === 413) {
    return { kind: 'rejected', error: error('PAYLOAD_TOO_LARGE', `${what}: request too large`, answer) };
  }
  if (status === 422) {
    return {
      kind: 'rejected',
      error: error(vendorCodeOf(answer.text) ?? 'INVALID_REQUEST', `${what} refused`, answer),
    };
  }
  return { kind: 'rejected', error: error('VENDOR_REJECTED', `${what} refused`, answer) };
}

/** A JSON body V7 answered 2xx with that lacks what the contract says it has. */
export function badResponse(route: Route, answer: Answered): DeliveryOutcome {
  return {
    kind: 'retry',
    error: recorded(
      'BAD_VENDOR_RESPONSE',
      `V7 ${route} answered ${answer.status} without the expected fields: ${answer.text.slice(0, 200)}`,
      { httpStatus: answer.status },
    ),
  };
}
