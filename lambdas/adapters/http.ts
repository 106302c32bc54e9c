/**
 * The undici dispatcher every vendor request goes through: pooled keep-alive connections, bounded timeouts,
 * and a typed view of network failures so the forwarder can tell "retry" from "rejected".
 */
import { Agent, type Dispatcher, errors } from 'undici';

export function createHttpAgent(options: { connections?: number; timeoutMs?: number } = {}): Dispatcher {
  return new Agent({
    connections: options.connections ?? 16,
    keepAliveTimeout: 10_000,
    headersTimeout: options.timeoutMs ?? 60_000,
    bodyTimeout: options.timeoutMs ?? 60_000,
    connect: { timeout: 10_000 },
  });
}

/** True for failures where the request may not have reached the vendor or the answer was lost. */
export function isNetworkError(err: unknown): boolean {
  if (
    err instanceof errors.SocketError ||
    err instanceof errors.ConnectTimeoutError ||
    err instanceof errors.HeadersTimeoutError ||
    err instanceof errors.BodyTimeoutError ||
    err instanceof errors.ClientDestroyedError ||
    err instanceof errors.ClientClosedError
  ) {
    return true;
  }
  const code = (err as { code?: string } | undefined)?.code;
  return (
    typeof code === 'string' &&
    [
      'ECONNRESET',
      'ECONNREFUSED',
      'EPIPE',
      'ETIMEDOUT',
      'UND_ERR_SOCKET',
      'EAI_AGAIN',
      'UND_ERR_CONNECT_TIMEOUT',
    ].includes(code)
  );
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
