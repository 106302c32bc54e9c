/**
 * The undici dispatcher every vendor request goes through: pooled keep-alive connections and bounded
 * timeouts. Only the handlers that talk to vendors import it.
 *
 * Imported from undici's own modules, not its package root: the root also loads fetch, WebSocket, EventSource,
 * caches, mocks, proxies and interceptors (about 250 KiB minified that a cold start would parse), none of which
 * the relay uses. What the relay needs is the Agent (and the Pool/Client/HTTP parser it builds on) plus the
 * Dispatcher API methods — `request` and its siblings — which the root would attach to every dispatcher and
 * which are attached here to this agent's class only.
 */
import type { Dispatcher } from 'undici';
import api from 'undici/lib/api/index.js';
import Agent from 'undici/lib/dispatcher/agent.js';

class RelayAgent extends Agent {}
Object.assign(RelayAgent.prototype, api);

export function createHttpAgent(options: { connections?: number; timeoutMs?: number } = {}): Dispatcher {
  return new RelayAgent({
    connections: options.connections ?? 16,
    keepAliveTimeout: 10_000,
    headersTimeout: options.timeoutMs ?? 60_000,
    bodyTimeout: options.timeoutMs ?? 60_000,
    connect: { timeout: 10_000 },
  });
}
