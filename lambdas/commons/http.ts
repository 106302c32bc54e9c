/**
 * Reading vendor answers: body text, lenient JSON, and which failures are the network's (retry) rather than
 * the vendor's. Type-only use of undici, so that plug-ins do not pull the HTTP client into every bundle.
 */
import type { Dispatcher } from 'undici';

/** Error codes of failures where the request may not have reached the vendor or its answer was lost. */
const NETWORK_CODES = new Set([
  // undici
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
  // node:net / dns
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
]);

export function isNetworkError(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  const cause = (err as { cause?: unknown } | undefined)?.cause;
  return cause !== undefined && cause !== err && isNetworkError(cause);
}

/** Reads a response body as text, at most `max` characters kept (vendor error bodies can be large). */
export async function readText(body: Dispatcher.ResponseData['body'], max = 64_000): Promise<string> {
  const text = await body.text();
  return text.length > max ? text.slice(0, max) : text;
}

export function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
