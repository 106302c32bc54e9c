import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { SimResponse } from '../framework/index.ts';
import { S3_BUCKET } from './assumptions.ts';

/** Helpers for the S3 side of the flow: presigned PUT, POST-form policy, XML bodies, streaming hashes. */

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** An S3-style XML error: `<Error><Code>…</Code><Message>…</Message><RequestId>…</RequestId></Error>`. */
export function s3Error(status: number, code: string, message: string, requestId: string): SimResponse {
  return {
    status,
    headers: { 'content-type': 'application/xml', 'x-amz-request-id': requestId },
    body:
      '<?xml version="1.0" encoding="UTF-8"?>\n' +
      `<Error><Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message>` +
      `<RequestId>${xmlEscape(requestId)}</RequestId></Error>`,
  };
}

/** The 201 answer of an S3 POST form with `success_action_status=201`. */
export function postFormCreated(location: string, key: string, md5: string, requestId: string): SimResponse {
  const etag = `"${md5}"`;
  return {
    status: 201,
    headers: {
      'content-type': 'application/xml',
      etag,
      location,
      'x-amz-request-id': requestId,
    },
    body:
      '<?xml version="1.0" encoding="UTF-8"?>\n' +
      `<PostResponse><Location>${xmlEscape(location)}</Location><Bucket>${S3_BUCKET}</Bucket>` +
      `<Key>${xmlEscape(key)}</Key><ETag>${xmlEscape(etag)}</ETag></PostResponse>`,
  };
}

export function hmacHex(secret: string, data: string): string {
  return createHmac('sha256', secret).update(data).digest('hex');
}

export function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** `20240102T030405Z`, as in `X-Amz-Date`. */
export function amzDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/** A credential in the AWS shape that cannot be mistaken for a real one. */
export function amzCredential(ms: number): string {
  return `SIM-FAKE-ACCESS-KEY/${amzDate(ms).slice(0, 8)}/eu-west-1/s3/aws4_request`;
}

export interface StreamedBody {
  size: number;
  sha256: string;
  md5: string;
  /** True when more than `limit` bytes arrived (the rest was still read and discarded). */
  tooLarge: boolean;
  /** True when no byte arrived for `idleTimeoutMs` before the body ended (the rest is not read). */
  timedOut: boolean;
}

/** S3's answer to a request whose body stopped arriving (sent with `Connection: close`, as S3 closes it). */
export function requestTimeout(requestId: string): SimResponse {
  const err = s3Error(
    400,
    'RequestTimeout',
    'Your socket connection to the server was not read from or written to within the timeout period. ' +
      'Idle connections will be closed.',
    requestId,
  );
  return { ...err, headers: { ...err.headers, connection: 'close' } };
}

/**
 * Reads a request body chunk by chunk, handing each chunk to `onChunk`, and gives up when no byte arrives for
 * `idleTimeoutMs` (as S3 does). Rejects when the client goes away before the body ended.
 */
function readIdle(
  req: IncomingMessage,
  idleTimeoutMs: number,
  onChunk: (chunk: Buffer) => void,
): Promise<{ size: number; timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    let size = 0;
    let timer: NodeJS.Timeout | undefined;
    const done = (err: Error | undefined, timedOut = false) => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      if (err) reject(err);
      else resolve({ size, timedOut });
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        req.pause();
        done(undefined, true);
      }, idleTimeoutMs);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      onChunk(chunk);
      arm();
    };
    const onEnd = () => done(undefined);
    const onError = (err: Error) => done(err);
    const onClose = () => {
      if (!req.complete) done(new Error('the client closed the connection before the body ended'));
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
    req.once('close', onClose);
    if (req.complete) {
      done(undefined);
      return;
    }
    arm();
  });
}

/** Reads a request body, hashing it: nothing but the hash state is kept in memory. */
export async function hashBody(
  req: IncomingMessage,
  limit: number,
  idleTimeoutMs: number,
): Promise<StreamedBody> {
  const sha = createHash('sha256');
  const md5 = createHash('md5');
  let seen = 0;
  const { size, timedOut } = await readIdle(req, idleTimeoutMs, (chunk) => {
    seen += chunk.length;
    if (seen <= limit) {
      sha.update(chunk);
      md5.update(chunk);
    }
  });
  return { size, sha256: sha.digest('hex'), md5: md5.digest('hex'), tooLarge: size > limit, timedOut };
}

/**
 * Reads and discards a request body (so that an early error answer does not break the connection), giving up
 * after `idleTimeoutMs` without a byte.
 */
export async function drain(
  req: IncomingMessage,
  idleTimeoutMs = Number.POSITIVE_INFINITY,
): Promise<{ size: number; timedOut: boolean }> {
  if (idleTimeoutMs === Number.POSITIVE_INFINITY) {
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) size += chunk.length;
    return { size, timedOut: false };
  }
  return readIdle(req, idleTimeoutMs, () => {});
}
