/** Reading and checking request parameters: every bad one is a 400 INVALID_REQUEST that names it. */
import { type DeliveryStatus, STATUSES } from '#domain/status.ts';
import { invalid } from './envelope.ts';

export function limitOf(raw: string | undefined, dflt: number, max: number): number {
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) throw invalid(`limit must be an integer from 1 to ${max}`);
  return n;
}

/** An ISO 8601 time (or a date), normalised to ISO UTC. */
export function timeOf(name: string, raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  const ms = Date.parse(raw);
  if (Number.isNaN(ms)) throw invalid(`${name} must be an ISO 8601 time, e.g. 2026-01-05T08:00:00Z`);
  return new Date(ms).toISOString();
}

export function statusOf(raw: string | undefined): DeliveryStatus | undefined {
  if (raw === undefined || raw === '') return undefined;
  const s = raw.toUpperCase();
  if (!(STATUSES as readonly string[]).includes(s))
    throw invalid(`status must be one of ${STATUSES.join(', ')}`);
  return s as DeliveryStatus;
}

export function jsonBody(body: string | undefined): Record<string, unknown> {
  if (body === undefined || body.trim() === '') throw invalid('a JSON body is required');
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    throw invalid('the body is not JSON');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw invalid('the body must be a JSON object');
  return v as Record<string, unknown>;
}

export function optionalString(body: Record<string, unknown>, name: string): string | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v === '') throw invalid(`${name} must be a non-empty string`);
  return v;
}

export function perSecondOf(raw: unknown, dflt: number, max: number): number {
  if (raw === undefined || raw === null) return dflt;
  if (typeof raw !== 'number' || !(raw > 0) || raw > max)
    throw invalid(`perSecond must be a number above 0 and at most ${max}`);
  return raw;
}
