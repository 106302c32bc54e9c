/**
 * Vendor requests and answers: header checks before dispatch, a bounded read of the body as text, lenient
 * JSON, and, when no answer came, whether the request had gone out in full. Type-only
 * use of undici, so that plug-ins do not pull the HTTP client into every bundle.
 */
import { Readable } from 'node:stream';
import { TextDecoder } from 'node:util';
import type { Dispatcher } from 'undici';

/** What is kept of an answer's body: its first `max` characters, and whether there was more. */
export interface AnswerText {
  text: string;
  /** The body had more than was kept; the rest was never read (the connection was dropped). */
  truncated: boolean;
}

/**
 * Reads a response body as a stream and keeps its first `max` characters (vendor error bodies can be huge):
 * once more than that has arrived, the body is destroyed, so nothing past the limit is read and at most one
 * network chunk more than the limit is ever held. Decoded in the content type's charset when it names one the
 * runtime knows, else UTF-8.
 */
export async function readText(
  body: Dispatcher.ResponseData['body'],
  max = 64_000,
  contentType?: string | string[],
): Promise<AnswerText> {
  const decoder = decoderFor(contentType);
  let text = '';
  let truncated = false;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      text += decoder.decode(chunk, { stream: true });
      if (text.length > max) {
        truncated = true;
        break;
      }
    }
    if (!truncated) text += decoder.decode();
  } finally {
    if (truncated || !body.readableEnded) {
      // Stop reading: undici aborts the request and closes the connection (it cannot be reused mid-body).
      body.on('error', () => undefined);
      body.destroy();
    }
  }
  if (text.length > max) {
    text = text.slice(0, max);
    truncated = true;
  }
  return { text, truncated };
}

function decoderFor(contentType: string | string[] | undefined): TextDecoder {
  const type = Array.isArray(contentType) ? contentType[0] : contentType;
  const charset = type ? /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(type)?.[1] : undefined;
  if (charset) {
    try {
      return new TextDecoder(charset);
    } catch {
      // A charset the runtime does not know: UTF-8, as undici's body.text() would.
    }
  }
  return new TextDecoder('utf-8');
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

/**
 * What came back (the shape of VendorAnswer in lambdas/vendors/types.ts, plus additive fields). `truncated`:
 * the answer's body was longer than `maxAnswerChars`; `text` holds its first `maxAnswerChars` characters and the
 * rest was never read. A flag rather than a marker in `text`, so that a plug-in never parses or records a marker
 * as the vendor's words (a truncated JSON body fails `tryJson` either way). Absent when the whole body was kept.
 */
export type Answer =
  | {
      kind: 'answer';
      status: number;
      headers: Record<string, string | string[] | undefined>;
      text: string;
      truncated?: true;
    }
  | { kind: 'no-answer'; error: Error; sentInFull: boolean };

/**
 * Sends one request and reads its answer as text (at most `maxAnswerChars`, see readText). The body goes
 * through a stream whose end marks the request as handed over in full, so a failure afterwards can be told apart
 * from one before the vendor saw it all.
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
    const { text, truncated } = await readText(res.body, req.maxAnswerChars, res.headers['content-type']);
    return {
      kind: 'answer',
      status: res.statusCode,
      headers: res.headers,
      text,
      ...(truncated ? { truncated: true as const } : {}),
    };
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
