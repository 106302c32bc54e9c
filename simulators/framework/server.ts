import { EventEmitter } from 'node:events';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { type FaultConfig, FaultInjector } from './faults.ts';
import { Rng } from './rng.ts';

/** What a route handler sees. The body is read lazily so that handlers can stream (multipart) or buffer it. */
export interface SimRequest {
  readonly method: string;
  readonly path: string;
  readonly url: URL;
  readonly headers: IncomingHttpHeaders;
  readonly params: Record<string, string>;
  readonly raw: IncomingMessage;
  /** Reads the whole body; answers `undefined` when it is larger than `limit` bytes (the rest is drained). */
  body(limit?: number): Promise<Buffer | undefined>;
  /** Adds details to this request's record in the inspection log (parsed fields, decisions taken). */
  note(details: Record<string, unknown>): void;
}

export interface SimResponse {
  status: number;
  headers?: Record<string, string>;
  /** An object is sent as JSON; a string as text; a Buffer or a stream as bytes. */
  body?: unknown;
  /** Content-Type to use for an object body (default application/json). */
  contentType?: string;
}

export type RouteHandler = (req: SimRequest) => Promise<SimResponse> | SimResponse;

export interface ReceivedRequest {
  seq: number;
  at: string;
  route: string;
  method: string;
  path: string;
  query: Record<string, string[]>;
  headers: Record<string, string>;
  status?: number;
  outcome: 'answered' | 'fault-status' | 'fault-reset' | 'fault-lost-answer' | 'aborted' | 'not-found';
  details: Record<string, unknown>;
}

interface Route {
  method: string;
  name: string;
  regex: RegExp;
  keys: string[];
  handler: RouteHandler;
}

export interface SimulatorOptions {
  /** Seed for identifiers and probabilistic faults (default 1). */
  seed?: number;
  /** How many requests the inspection log keeps (default 10 000). */
  maxRecorded?: number;
}

export interface ListenOptions {
  port?: number;
  host?: string;
}

/** Headers whose values are secrets: the inspection log keeps only a fingerprint of them. */
const SECRET_HEADERS = new Set(['authorization', 'x-api-key', 'instrumental-api-key']);

/**
 * A small HTTP server that every vendor simulator is built on: routing, a seeded generator, fault injection,
 * an inspection log and API under `/__sim/`, loopback binding and a clean stop.
 */
export class Simulator extends EventEmitter {
  readonly name: string;
  readonly rng: Rng;
  readonly faults: FaultInjector;
  private readonly routes: Route[] = [];
  private readonly recorded: ReceivedRequest[] = [];
  private readonly maxRecorded: number;
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  /** Further addresses the same routes, state and log answer on (`listenAlso`). */
  private readonly aliases: Array<{ server: Server; url: string }> = [];
  private seq = 0;
  private baseUrl = '';
  private stateFn: () => unknown = () => ({});
  private resetFn: () => void = () => {};

  constructor(name: string, options: SimulatorOptions = {}) {
    super();
    this.name = name;
    this.rng = new Rng(options.seed ?? 1);
    this.faults = new FaultInjector(this.rng);
    this.maxRecorded = options.maxRecorded ?? 10_000;
  }

  /** Registers a route. `pattern` uses `:name` for a path segment and `*name` for the rest of the path. */
  route(method: string, pattern: string, name: string, handler: RouteHandler): this {
    const keys: string[] = [];
    const source = pattern
      .split('/')
      .map((seg) => {
        if (seg.startsWith(':')) {
          keys.push(seg.slice(1));
          return '([^/]+)';
        }
        if (seg.startsWith('*')) {
          keys.push(seg.slice(1));
          return '(.+)';
        }
        return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      })
      .join('/');
    this.routes.push({
      method: method.toUpperCase(),
      name,
      regex: new RegExp(`^${source}/?$`),
      keys,
      handler,
    });
    return this;
  }

  /** What `GET /__sim/state` shows: the vendor's own state (stored files, tasks, buckets). */
  onState(fn: () => unknown): this {
    this.stateFn = fn;
    return this;
  }

  /** Called by `reset()` so a vendor clears its own state too. */
  onReset(fn: () => void): this {
    this.resetFn = fn;
    return this;
  }

  get url(): string {
    if (!this.baseUrl) throw new Error(`${this.name} simulator is not started`);
    return this.baseUrl;
  }

  get requests(): readonly ReceivedRequest[] {
    return this.recorded;
  }

  requestsTo(route: string): ReceivedRequest[] {
    return this.recorded.filter((r) => r.route === route);
  }

  state(): unknown {
    return this.stateFn();
  }

  setFaults(config: FaultConfig): void {
    this.faults.set(config);
  }

  reset(): void {
    this.recorded.length = 0;
    this.faults.clear();
    this.resetFn();
  }

  async start(options: ListenOptions = {}): Promise<string> {
    if (this.server) return this.url;
    const { server, url } = await this.listen(options);
    this.server = server;
    this.baseUrl = url;
    return this.baseUrl;
  }

  /**
   * Answers on one more address too (same routes, state, faults and inspection log), e.g. the fixed
   * `<host>:<port>` an official client insists on. Loopback only, like `start()`; `stop()` closes it.
   */
  async listenAlso(options: ListenOptions & { port: number }): Promise<string> {
    if (!this.server) throw new Error(`${this.name} simulator is not started`);
    const alias = await this.listen(options);
    this.aliases.push(alias);
    return alias.url;
  }

  /** The addresses given to `listenAlso`, in order. */
  get aliasUrls(): string[] {
    return this.aliases.map((a) => a.url);
  }

  async stop(): Promise<void> {
    const servers = [this.server, ...this.aliases.map((a) => a.server)].filter((s) => s !== undefined);
    if (!this.server) return;
    this.server = undefined;
    this.baseUrl = '';
    this.aliases.length = 0;
    const closed = servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
    for (const server of servers) server.closeAllConnections();
    for (const s of this.sockets) s.destroy();
    await Promise.all(closed);
  }

  private async listen(options: ListenOptions): Promise<{ server: Server; url: string }> {
    const host = options.host ?? '127.0.0.1';
    if (!isLoopbackAddress(host))
      throw new Error(`${this.name} simulator: ${host} is not a loopback address`);
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: 'simulator error', detail: String(err) }));
        } else {
          res.destroy();
        }
      });
    });
    server.keepAliveTimeout = 5_000;
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    return { server, url: `http://${host}:${port}` };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://simulator.local');
    if (url.pathname.startsWith('/__sim/')) {
      await this.inspection(req, res, url);
      return;
    }
    const method = (req.method ?? 'GET').toUpperCase();
    let matched: { route: Route; params: Record<string, string> } | undefined;
    for (const route of this.routes) {
      if (route.method !== method) continue;
      const m = route.regex.exec(url.pathname);
      if (!m) continue;
      const params: Record<string, string> = {};
      route.keys.forEach((k, i) => {
        params[k] = decodeURIComponent(m[i + 1] ?? '');
      });
      matched = { route, params };
      break;
    }

    const record: ReceivedRequest = {
      seq: ++this.seq,
      at: new Date().toISOString(),
      route: matched?.route.name ?? 'unknown',
      method,
      path: url.pathname,
      query: queryOf(url),
      headers: redactHeaders(req.headers),
      outcome: 'answered',
      details: {},
    };
    this.recorded.push(record);
    if (this.recorded.length > this.maxRecorded) this.recorded.shift();
    this.emit('request', record);

    if (!matched) {
      record.outcome = 'not-found';
      record.status = 404;
      req.resume();
      send(res, { status: 404, body: { error: 'Not Found', path: url.pathname } });
      return;
    }

    const decision = this.faults.decide(matched.route.name);
    if (decision.delayMs > 0) await sleep(decision.delayMs);
    if (decision.kind === 'reset') {
      record.outcome = 'fault-reset';
      // Keep the socket: leaving the read loop early destroys `req`, which detaches it from `req.socket`.
      const socket = req.socket;
      if (decision.afterBytes !== undefined) await readBytes(req, decision.afterBytes);
      socket.destroy();
      this.emit('answered', record);
      return;
    }
    if (decision.kind === 'status') {
      record.outcome = 'fault-status';
      record.status = decision.status;
      req.resume();
      send(res, {
        status: decision.status,
        headers: decision.headers,
        body: decision.body ?? { error: `injected ${decision.status}` },
      });
      this.emit('answered', record);
      return;
    }

    if (req.destroyed || req.socket.destroyed) {
      // The client went away during an injected delay: nothing to answer, nothing was stored.
      record.outcome = 'aborted';
      this.emit('answered', record);
      return;
    }
    let aborted = false;
    req.once('aborted', () => {
      aborted = true;
    });
    res.once('close', () => {
      if (!res.writableFinished) aborted = true;
    });
    const simReq: SimRequest = {
      method,
      path: url.pathname,
      url,
      headers: req.headers,
      params: matched.params,
      raw: req,
      body: (limit) => readBody(req, limit),
      note: (details) => Object.assign(record.details, details),
    };
    let response: SimResponse;
    try {
      response = await matched.route.handler(simReq);
    } catch (err) {
      if (aborted || req.destroyed) {
        record.outcome = 'aborted';
        this.emit('answered', record);
        return;
      }
      throw err;
    }
    if (aborted || req.socket.destroyed) {
      record.outcome = 'aborted';
      this.emit('answered', record);
      return;
    }
    if (decision.loseAnswer) {
      // The route ran (whatever it stores is stored); the answer never leaves.
      record.outcome = 'fault-lost-answer';
      record.status = response.status;
      req.socket.destroy();
      this.emit('answered', record);
      return;
    }
    record.status = response.status;
    this.emit('answered', record);
    await send(res, response, decision.slowBodyBytesPerSec);
  }

  private async inspection(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const what = url.pathname.slice('/__sim/'.length);
    if (method === 'GET' && what === 'requests') {
      const route = url.searchParams.get('route');
      send(res, { status: 200, body: route ? this.requestsTo(route) : this.recorded });
    } else if (method === 'GET' && what === 'state') {
      send(res, { status: 200, body: this.state() });
    } else if (method === 'GET' && what === 'faults') {
      send(res, { status: 200, body: this.faults.snapshot() });
    } else if ((method === 'PUT' || method === 'POST') && what === 'faults') {
      const raw = await readBody(req, 1_000_000);
      try {
        this.setFaults(JSON.parse(raw?.toString('utf8') || '{}') as FaultConfig);
        send(res, { status: 200, body: this.faults.snapshot() });
      } catch {
        send(res, { status: 400, body: { error: 'faults must be a JSON FaultConfig' } });
      }
    } else if (method === 'POST' && what === 'reset') {
      req.resume();
      this.reset();
      send(res, { status: 200, body: { reset: true } });
    } else {
      req.resume();
      send(res, { status: 404, body: { error: 'unknown inspection path', path: url.pathname } });
    }
  }
}

/** 127.0.0.0/8 (every address of it is loopback), `::1` and `localhost`: a simulator never binds anything else. */
export function isLoopbackAddress(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

function queryOf(url: URL): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of url.searchParams) {
    const list = out[k] ?? [];
    list.push(v);
    out[k] = list;
  }
  return out;
}

function redactHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    const value = Array.isArray(v) ? v.join(', ') : v;
    out[k] = SECRET_HEADERS.has(k) ? fingerprint(value) : value;
  }
  return out;
}

/** Keeps enough of a credential to tell two apart in a log, never the credential itself. */
export function fingerprint(secret: string): string {
  let h = 2166136261;
  for (let i = 0; i < secret.length; i++) h = Math.imul(h ^ secret.charCodeAt(i), 16777619);
  return `redacted(len=${secret.length},fnv=${(h >>> 0).toString(16)})`;
}

async function readBody(req: IncomingMessage, limit = 64 * 1024 * 1024): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) over = true;
    if (!over) chunks.push(chunk);
  }
  return over ? undefined : Buffer.concat(chunks);
}

async function readBytes(req: IncomingMessage, n: number): Promise<void> {
  if (n <= 0) {
    for await (const _ of req as AsyncIterable<Buffer>) {
      // drain everything before the reset
    }
    return;
  }
  let seen = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    seen += chunk.length;
    if (seen >= n) return;
  }
}

async function send(res: ServerResponse, response: SimResponse, slowBytesPerSec?: number): Promise<void> {
  const headers: Record<string, string> = { ...(response.headers ?? {}) };
  let payload: Buffer | Readable | undefined;
  const body = response.body;
  if (body === undefined || body === null) {
    payload = undefined;
  } else if (Buffer.isBuffer(body)) {
    payload = body;
  } else if (body instanceof Readable) {
    payload = body;
  } else if (typeof body === 'string') {
    headers['content-type'] ??= 'text/plain; charset=utf-8';
    payload = Buffer.from(body, 'utf8');
  } else {
    headers['content-type'] ??= response.contentType ?? 'application/json';
    payload = Buffer.from(JSON.stringify(body), 'utf8');
  }
  if (Buffer.isBuffer(payload)) headers['content-length'] = String(payload.length);
  res.writeHead(response.status, headers);
  if (payload === undefined) {
    res.end();
    return;
  }
  if (payload instanceof Readable) {
    payload.pipe(res);
    return;
  }
  if (!slowBytesPerSec) {
    res.end(payload);
    return;
  }
  const chunk = Math.max(1, Math.floor(slowBytesPerSec / 10));
  for (let i = 0; i < payload.length; i += chunk) {
    if (res.destroyed) return;
    res.write(payload.subarray(i, i + chunk));
    await sleep(100);
  }
  res.end();
}
