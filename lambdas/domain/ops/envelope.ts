/**
 * The ops API's answers, in FactoryTX's envelope `{success, response, error: {code, text}}` with an HTTP status
 * that says the same (docs/ops-api.md). Route modules return `ok(...)` / `accepted(...)` or throw an OpsError.
 */

export type OpsErrorCode =
  | 'INVALID_REQUEST'
  | 'CONFIG_INVALID'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'CONFLICT'
  | 'INTERNAL';

export interface Envelope<T = unknown> {
  success: boolean;
  response: T | null;
  error: { code: OpsErrorCode; text: string } | null;
}

export interface OpsResult<T = unknown> {
  statusCode: number;
  body: Envelope<T>;
}

const STATUS: Record<OpsErrorCode, number> = {
  INVALID_REQUEST: 400,
  CONFIG_INVALID: 400,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  INTERNAL: 500,
};

export class OpsError extends Error {
  constructor(
    readonly code: OpsErrorCode,
    text: string,
    /** A response that goes with the error (e.g. the violations of an invalid config). */
    readonly response: unknown = null,
  ) {
    super(text);
    this.name = 'OpsError';
  }
}

export const invalid = (text: string): OpsError => new OpsError('INVALID_REQUEST', text);
export const notFound = (text: string): OpsError => new OpsError('NOT_FOUND', text);

export function ok<T>(response: T, statusCode = 200): OpsResult<T> {
  return { statusCode, body: { success: true, response, error: null } };
}

export function accepted<T>(response: T): OpsResult<T> {
  return ok(response, 202);
}

/** A finished answer that reports a failure in its body (FactoryTX's validate: 200 with success false). */
export function answered<T>(response: T, success: boolean): OpsResult<T> {
  return { statusCode: 200, body: { success, response, error: null } };
}

export function failure(err: OpsError): OpsResult {
  return {
    statusCode: STATUS[err.code],
    body: { success: false, response: err.response as never, error: { code: err.code, text: err.message } },
  };
}
