/**
 * Typed errors. `RelayError` carries the stable code that ends up in a delivery record's `lastError`.
 */
import type { RecordedError } from '#domain/status.ts';

export class RelayError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details: { httpStatus?: number; vendorCode?: string } = {},
  ) {
    super(message);
    this.name = 'RelayError';
  }

  toRecorded(): RecordedError {
    return { code: this.code, message: this.message, ...this.details };
  }
}

/** A malformed SQS message body: nothing to record against, so it goes to the DLQ. */
export class MalformedMessageError extends RelayError {
  constructor(message: string) {
    super('MALFORMED_MESSAGE', message);
    this.name = 'MalformedMessageError';
  }
}

export type CredentialsCode = 'CREDENTIALS_MISSING' | 'CREDENTIALS_UNREADABLE' | 'CREDENTIALS_MALFORMED';

/**
 * A destination's credentials cannot be used: the secret is missing, unreadable, or not a key the vendor could
 * accept. Found before any request is built; the forwarder holds the destination instead of spending attempts.
 */
export class CredentialsError extends RelayError {
  constructor(code: CredentialsCode, message: string) {
    super(code, message);
    this.name = 'CredentialsError';
  }
}

/** Builds a RecordedError without dropping undefined details into the item. */
export function recorded(code: string, message: string, extra: Partial<RecordedError> = {}): RecordedError {
  const out: RecordedError = { code, message: truncate(message, 1000) };
  if (extra.httpStatus !== undefined) out.httpStatus = extra.httpStatus;
  if (extra.vendorCode !== undefined) out.vendorCode = extra.vendorCode;
  return out;
}

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
