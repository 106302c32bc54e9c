/**
 * The undici dispatcher every vendor request goes through: pooled keep-alive connections and bounded
 * timeouts. Only the handlers that talk to vendors import it.
 */
import { Agent, type Dispatcher } from 'undici';

export function createHttpAgent(options: { connections?: number; timeoutMs?: number } = {}): Dispatcher {
  return new Agent({
    connections: options.connections ?? 16,
    keepAliveTimeout: 10_000,
    headersTimeout: options.timeoutMs ?? 60_000,
    bodyTimeout: options.timeoutMs ?? 60_000,
    connect: { timeout: 10_000 },
  });
}
