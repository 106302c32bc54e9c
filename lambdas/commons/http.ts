/**
 * Vendor requests and answers: header checks before dispatch, body text, lenient JSON, and, when no answer
 * came, whether the request had gone out in full. Type-only
 * use of undici, so that plug-ins do not pull the HTTP client into every bundle.
 */
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';

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
 *
 * Throws only what the relay refuses before anything is sent: InvalidRequestError (bad headers, checked here)
 * and undici's InvalidArgumentError (options it refuses before dispatch). Every other failure, whatever its
 * kind, is a `no-answer` with `sentInFull`: a reset, a deadline, but also an answer that breaks undici's parser
 * (a bad status line, a bad chunk size) after the vendor got the whole request. Thrown, such a failure became
 * the forwarder's INTERNAL_ERROR and ended DEAD although the vendor may hold the file.
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
    if (refusedBeforeDispatch(err)) throw err;
    return { kind: 'no-answer', error: err instanceof Error ? err : new Error(String(err)), sentInFull };
  }
}

/** undici refused the request's options before dispatching it (InvalidArgumentError): nothing was sent. */
function refusedBeforeDispatch(err: unknown): boolean {
  return (
    err instanceof InvalidRequestError ||
    (err as { code?: unknown } | undefined)?.code === 'UND_ERR_INVALID_ARG'
  );
}
