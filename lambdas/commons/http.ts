/**
 * Vendor requests and answers: header checks before dispatch, body text, lenient JSON, and which failures
 * are the network's (retry) rather than the vendor's, and whether the request had gone out in full. Type-only
 * use of undici, so that plug-ins do not pull the HTTP client into every bundle.
 */
import { Readable } from 'node:stream';
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

/** RFC 9110 field-value characters (what undici accepts: HTAB, SP, VCHAR, obs-text). */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** RFC 9110 token (a header name). */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** A request the relay refused to dispatch: a header undici would reject after taking a pooled connection. */
export class InvalidRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidRequestError';
  }
}

/**
 * Checks header names and values before a request is dispatched. undici refuses a value with CR, LF or NUL
 * (e.g. an API key with a trailing newline), but only after its pool has counted the request: each such
 * refusal keeps a connection slot, and after `connections` of them every later request of the process hangs.
 * The value is never put in the message (it may be a credential).
 */
export function checkHeaders(headers: Record<string, string>): void {
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_NAME.test(name)) throw new InvalidRequestError(`invalid header name ${JSON.stringify(name)}`);
    if (typeof value !== 'string' || !HEADER_VALUE.test(value))
      throw new InvalidRequestError(`header ${name} has a character HTTP does not allow (CR, LF, NUL, …)`);
  }
}

export interface OutgoingRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD';
  url: URL;
  headers?: Record<string, string>;
  body?: Readable | string | Buffer;
  /** Most characters of the answer kept (default 64 000): raise it for answers that list many items. */
  maxAnswerChars?: number;
}

export type Answer =
  | { kind: 'answer'; status: number; headers: Record<string, string | string[] | undefined>; text: string }
  | { kind: 'no-answer'; error: Error; sentInFull: boolean };

/**
 * Sends one request and reads its answer as text. The body goes through a stream whose end marks the request
 * as handed over in full, so a failure afterwards can be told apart from one before the vendor saw it all.
 * Throws InvalidRequestError (nothing dispatched) for bad headers; every other failure is a `no-answer`.
 */
export async function sendRequest(
  http: Dispatcher,
  req: OutgoingRequest,
  signal: AbortSignal,
): Promise<Answer> {
  const headers = req.headers ?? {};
  checkHeaders(headers);
  let sentInFull = req.body === undefined;
  let body: Readable | undefined;
  if (req.body !== undefined) {
    const source =
      typeof req.body === 'string' || Buffer.isBuffer(req.body)
        ? Readable.from([Buffer.from(req.body)], { objectMode: false })
        : req.body;
    source.once('end', () => {
      sentInFull = true;
    });
    body = source;
  }
  try {
    const res = await http.request({
      origin: req.url.origin,
      path: `${req.url.pathname}${req.url.search}`,
      method: req.method,
      headers,
      ...(body ? { body } : {}),
      signal,
    });
    // An answer may come before the whole body was read (a vendor refusing early); it is still an answer.
    const text = await readText(res.body, req.maxAnswerChars);
    return { kind: 'answer', status: res.statusCode, headers: res.headers, text };
  } catch (err) {
    body?.destroy();
    if (isNetworkError(err) || signal.aborted || isAbort(err)) {
      return { kind: 'no-answer', error: err instanceof Error ? err : new Error(String(err)), sentInFull };
    }
    throw err;
  }
}

function isAbort(err: unknown): boolean {
  const name = (err as { name?: unknown } | undefined)?.name;
  return name === 'AbortError' || name === 'TimeoutError';
}
