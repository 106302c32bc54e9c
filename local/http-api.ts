/**
 * A local API Gateway HTTP API (payload format 2.0) in front of Lambda handlers: node http on 127.0.0.1,
 * requests → APIGatewayProxyEventV2, results → HTTP responses, with API Gateway's answers for what it decides
 * itself (404 no route, 413 payload over 10 MB, 500 function error, 503 integration timeout after 30 s).
 *
 * As HTTP APIs do: header names lower-cased, repeated headers joined with `,`, cookies moved to `cookies`,
 * repeated query parameters joined with `,`, `rawPath` and `pathParameters` URL-decoded (`rawQueryString` not),
 * bodies base64-encoded unless their content type is text (text/*, JSON, XML, JavaScript).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { HTTP_API_TIMEOUT_MESSAGE, HTTP_API_TIMEOUT_STATUS, isTextContentType } from './assumptions.ts';
import type { InvocationOutcome } from './lambda-context.ts';

export { isTextContentType };

export const HTTP_API_INTEGRATION_TIMEOUT_MS = 30_000;
export const HTTP_API_MAX_PAYLOAD_BYTES = 10 * 1024 * 1024;

interface Segment {
  literal?: string;
  param?: string;
  greedy?: boolean;
}

export interface ParsedRoute {
  routeKey: string;
  /** Upper-case method or `ANY`; undefined for `$default`. */
  method?: string;
  segments: Segment[];
}

export function parseRouteKey(routeKey: string): ParsedRoute {
  if (routeKey === '$default') return { routeKey, segments: [] };
  const m = /^(\S+)\s+(\/\S*)$/.exec(routeKey.trim());
  if (!m) throw new Error(`invalid route key "${routeKey}" (expected "METHOD /path" or "$default")`);
  const segments = m[2]!
    .split('/')
    .filter(Boolean)
    .map((s): Segment => {
      const p = /^\{([A-Za-z0-9_.-]+)(\+)?\}$/.exec(s);
      return p ? { param: p[1]!, greedy: p[2] === '+' } : { literal: s };
    });
  return { routeKey, method: m[1]!.toUpperCase(), segments };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Matches a raw (encoded) path; returns the decoded path parameters. */
export function matchPath(route: ParsedRoute, rawPath: string): Record<string, string> | undefined {
  const parts = rawPath.split('/').filter(Boolean);
  const params: Record<string, string> = {};
  for (let i = 0; i < route.segments.length; i++) {
    const seg = route.segments[i]!;
    if (seg.greedy) {
      if (i !== route.segments.length - 1 || parts.length <= i) return undefined;
      params[seg.param!] = safeDecode(parts.slice(i).join('/'));
      return params;
    }
    const part = parts[i];
    if (part === undefined) return undefined;
    if (seg.literal !== undefined) {
      if (safeDecode(part) !== seg.literal) return undefined;
    } else params[seg.param!] = safeDecode(part);
  }
  return parts.length === route.segments.length ? params : undefined;
}

/** API Gateway's choice: the most specific matching route; a method match beats ANY; `$default` last. */
export function selectRoute<R extends ParsedRoute>(
  routes: R[],
  method: string,
  rawPath: string,
): { route: R; pathParameters: Record<string, string> } | undefined {
  let best: { route: R; pathParameters: Record<string, string>; score: number } | undefined;
  for (const route of routes) {
    if (route.method === undefined) continue;
    if (route.method !== 'ANY' && route.method !== method.toUpperCase()) continue;
    const pathParameters = matchPath(route, rawPath);
    if (!pathParameters) continue;
    let score = route.method === 'ANY' ? 0 : 1;
    for (const s of route.segments) score += s.literal !== undefined ? 1000 : s.greedy ? 1 : 10;
    if (!best || score > best.score) best = { route, pathParameters, score };
  }
  if (best) return { route: best.route, pathParameters: best.pathParameters };
  const fallback = routes.find((r) => r.method === undefined);
  return fallback ? { route: fallback, pathParameters: {} } : undefined;
}

function apiGatewayTime(d: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${months[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

export function newApiRequestId(): string {
  return randomBytes(11).toString('base64');
}

export interface HttpRequestInput {
  method: string;
  /** The request target as received: path and query, encoded. */
  url: string;
  /** Node's rawHeaders: [name, value, name, value, …]. */
  rawHeaders: string[];
  body: Buffer;
  sourceIp: string;
  localPort: number;
  routeKey: string;
  pathParameters: Record<string, string>;
  requestId?: string;
  now?: Date;
  accountId?: string;
}

export function buildHttpApiEvent(input: HttpRequestInput): APIGatewayProxyEventV2 {
  const now = input.now ?? new Date();
  const requestId = input.requestId ?? newApiRequestId();
  const q = input.url.indexOf('?');
  const rawPathEncoded = q >= 0 ? input.url.slice(0, q) : input.url;
  const rawQueryString = q >= 0 ? input.url.slice(q + 1) : '';
  const rawPath = safeDecode(rawPathEncoded);

  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  for (let i = 0; i + 1 < input.rawHeaders.length; i += 2) {
    const name = input.rawHeaders[i]!.toLowerCase();
    const value = input.rawHeaders[i + 1]!;
    if (name === 'cookie') {
      for (const c of value.split(';')) if (c.trim()) cookies.push(c.trim());
      continue;
    }
    headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
  }
  headers['x-forwarded-for'] ??= input.sourceIp;
  headers['x-forwarded-port'] ??= String(input.localPort);
  headers['x-forwarded-proto'] ??= 'http';
  headers['x-amzn-trace-id'] ??=
    `Root=1-${Math.floor(now.getTime() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`;

  let queryStringParameters: Record<string, string> | undefined;
  if (rawQueryString) {
    queryStringParameters = {};
    for (const [k, v] of new URLSearchParams(rawQueryString)) {
      queryStringParameters[k] =
        queryStringParameters[k] === undefined ? v : `${queryStringParameters[k]},${v}`;
    }
  }

  const hasBody = input.body.length > 0;
  const text = isTextContentType(headers['content-type']);
  const host = headers.host ?? `127.0.0.1:${input.localPort}`;
  const domainName = host.replace(/:\d+$/, '');
  const event: APIGatewayProxyEventV2 = {
    version: '2.0',
    routeKey: input.routeKey,
    rawPath,
    rawQueryString,
    ...(cookies.length > 0 ? { cookies } : {}),
    headers,
    ...(queryStringParameters ? { queryStringParameters } : {}),
    requestContext: {
      accountId: input.accountId ?? '000000000000',
      apiId: 'local',
      domainName,
      domainPrefix: domainName.split('.')[0]!,
      http: {
        method: input.method.toUpperCase(),
        path: rawPath,
        protocol: 'HTTP/1.1',
        sourceIp: input.sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId,
      routeKey: input.routeKey,
      stage: '$default',
      time: apiGatewayTime(now),
      timeEpoch: now.getTime(),
    },
    ...(Object.keys(input.pathParameters).length > 0 ? { pathParameters: input.pathParameters } : {}),
    ...(hasBody ? { body: text ? input.body.toString('utf8') : input.body.toString('base64') } : {}),
    isBase64Encoded: hasBody && !text,
  };
  return event;
}

export interface HttpResponse {
  statusCode: number;
  headers: Record<string, string>;
  cookies: string[];
  body: Buffer;
}

const json = (statusCode: number, value: unknown): HttpResponse => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  cookies: [],
  body: Buffer.from(JSON.stringify(value)),
});

/**
 * Payload 2.0 response mapping: an object with `statusCode` is a structured response; anything else (object,
 * array, string, number) is "valid JSON without statusCode": 200, application/json, the JSON as body.
 */
export function mapHttpApiResult(result: unknown): HttpResponse {
  if (result !== null && typeof result === 'object' && !Array.isArray(result) && 'statusCode' in result) {
    const r = result as {
      statusCode?: unknown;
      headers?: Record<string, unknown>;
      cookies?: unknown;
      body?: unknown;
      isBase64Encoded?: unknown;
    };
    const statusCode = typeof r.statusCode === 'number' ? r.statusCode : Number(r.statusCode);
    if (!Number.isInteger(statusCode) || statusCode < 100 || statusCode > 599)
      return json(500, { message: 'Internal Server Error' });
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(r.headers ?? {}))
      if (v !== undefined && v !== null) headers[k.toLowerCase()] = String(v);
    const cookies = Array.isArray(r.cookies) ? r.cookies.map(String) : [];
    const bodyText = r.body === undefined || r.body === null ? '' : String(r.body);
    const body = r.isBase64Encoded === true ? Buffer.from(bodyText, 'base64') : Buffer.from(bodyText, 'utf8');
    return { statusCode, headers, cookies, body };
  }
  return json(200, result === undefined ? null : result);
}

export interface HttpApiRoute {
  routeKey: string;
  /** Invokes the integration; settles with the Lambda outcome (the runner does the invoking). */
  invoke: (
    event: APIGatewayProxyEventV2,
    integrationTimeoutMs: number,
  ) => Promise<InvocationOutcome<unknown>>;
}

export interface HttpApiOptions {
  port?: number;
  routes: HttpApiRoute[];
  integrationTimeoutMs?: number;
  maxPayloadBytes?: number;
  accountId?: string;
}

export interface HttpApi {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export async function startHttpApi(opts: HttpApiOptions): Promise<HttpApi> {
  const routes = opts.routes.map((r) => ({ ...parseRouteKey(r.routeKey), invoke: r.invoke }));
  const timeoutMs = opts.integrationTimeoutMs ?? HTTP_API_INTEGRATION_TIMEOUT_MS;
  const maxBytes = opts.maxPayloadBytes ?? HTTP_API_MAX_PAYLOAD_BYTES;

  const send = (res: ServerResponse, requestId: string, r: HttpResponse) => {
    const headers: Record<string, string | string[]> = { ...r.headers, 'apigw-requestid': requestId };
    if (r.cookies.length > 0) headers['set-cookie'] = r.cookies;
    headers['content-length'] = String(r.body.length);
    res.writeHead(r.statusCode, headers).end(r.body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const requestId = newApiRequestId();
    // The local API has no IAM: anything that reaches it may act as an operator. Only this machine's own
    // clients do: a Host that is not loopback (DNS rebinding) and a browser Origin from another site (a page
    // posting a config or a stop cross-site) are refused before anything runs. Non-browser clients send no Origin.
    const host = req.headers.host ?? '';
    const port = req.socket.localPort ?? 0;
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`)
      return send(
        res,
        requestId,
        json(421, { message: 'Misdirected Request: this API answers only on loopback' }),
      );
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${host}`)
      return send(res, requestId, json(403, { message: 'Forbidden: cross-origin request refused' }));
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > maxBytes) tooLarge = true;
      else chunks.push(chunk as Buffer);
    }
    if (tooLarge) return send(res, requestId, json(413, { message: 'Request Entity Too Large' }));
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const selected = selectRoute(routes, req.method ?? 'GET', q >= 0 ? url.slice(0, q) : url);
    if (!selected) return send(res, requestId, json(404, { message: 'Not Found' }));
    const event = buildHttpApiEvent({
      method: req.method ?? 'GET',
      url,
      rawHeaders: req.rawHeaders,
      body: Buffer.concat(chunks),
      sourceIp: (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, ''),
      localPort: req.socket.localPort ?? 0,
      routeKey: selected.route.routeKey,
      pathParameters: selected.pathParameters,
      requestId,
      accountId: opts.accountId,
    });
    const outcome = await selected.route.invoke(event, timeoutMs);
    if (outcome.status === 'timeout')
      return send(res, requestId, json(HTTP_API_TIMEOUT_STATUS, { message: HTTP_API_TIMEOUT_MESSAGE }));
    if (outcome.status === 'error')
      return send(res, requestId, json(500, { message: 'Internal Server Error' }));
    send(res, requestId, mapHttpApiResult(outcome.value));
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'Internal Server Error' }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        // Keep-alive connections close as soon as they are idle; requests still being answered get a second
        // (their invocations are awaited by the runner first), then every connection goes.
        const idle = setInterval(() => server.closeIdleConnections(), 25);
        const force = setTimeout(() => server.closeAllConnections(), 1000);
        server.close(() => {
          clearInterval(idle);
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
