/**
 * `relay ui`'s server, like `kubectl proxy`: on 127.0.0.1 it serves the ops page (`/ui/`) and forwards the
 * page's API calls (`/v1/*`) to a deployed stack's HTTP API, signed with SigV4 (service `execute-api`) from the
 * operator's credentials (the SDK's default chain: environment, profile, SSO, …). Object reads for the Find view
 * go to S3 with the same credentials, for objects the ops API has a delivery record of (ui/serve.ts).
 *
 * Only the page's own origin may use it: requests must name this server as their Host (no DNS rebinding), and a
 * request that says it comes from another Origin is refused (no cross-site POSTs with the operator's rights).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Sha256 } from '@aws-crypto/sha256-js';
import type { S3Client } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { deliveryFromResponse, s3Reader, uiAnswer } from './serve.ts';

/** What SignatureV4 takes: credentials, or a provider of them (the SDK's default chain). */
export type Credentials = ConstructorParameters<typeof SignatureV4>[0]['credentials'];

export interface UiProxyOptions {
  /** The deployed HTTP API's base URL (stack output OpsApiUrl), e.g. https://abc.execute-api.eu-west-1.amazonaws.com */
  apiUrl: string;
  region: string;
  credentials: Credentials;
  /** For the Find view's images; without it, object reads answer 404. */
  s3?: S3Client;
  resultsBucket?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** Upstream fetch (tests). */
  fetch?: typeof fetch;
}

export interface UiProxy {
  url: string;
  stop(): Promise<void>;
}

/** Request headers the page may send upstream; everything else (cookies, the browser's own) stays here. */
const FORWARDED = ['content-type', 'accept', 'x-relay-user'];
const MAX_BODY = 10 * 1024 * 1024;

export async function startUiProxy(opts: UiProxyOptions): Promise<UiProxy> {
  const base = new URL(opts.apiUrl.replace(/\/+$/, ''));
  const upstreamFetch = opts.fetch ?? fetch;
  const signer = new SignatureV4({
    service: 'execute-api',
    region: opts.region,
    credentials: opts.credentials,
    sha256: Sha256,
  });

  /** A signed request to the API; the answer as it came. */
  async function forward(
    method: string,
    pathAndQuery: string,
    headers: Record<string, string>,
    body?: Buffer,
  ) {
    const target = new URL(`${base.pathname.replace(/\/$/, '')}${pathAndQuery}`, base);
    const query: Record<string, string | string[]> = {};
    for (const [k, v] of target.searchParams) {
      const prev = query[k];
      query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    const signed = await signer.sign({
      method,
      protocol: target.protocol,
      hostname: target.hostname,
      ...(target.port ? { port: Number(target.port) } : {}),
      path: target.pathname,
      query,
      headers: { ...headers, host: target.host },
      ...(body && body.length > 0 ? { body } : {}),
    });
    const { host: _host, ...sendHeaders } = signed.headers as Record<string, string>;
    return upstreamFetch(target, {
      method,
      headers: sendHeaders,
      ...(body && body.length > 0 ? { body } : {}),
    });
  }

  const readObject = opts.s3 ? s3Reader(opts.s3) : async () => undefined;
  let self = '';

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const host = req.headers.host ?? '';
    if (host !== self && host !== self.replace('127.0.0.1', 'localhost'))
      return res.writeHead(421, { 'content-type': 'text/plain' }).end('wrong host');
    const origin = req.headers.origin;
    if (origin && origin !== `http://${host}`)
      return res.writeHead(403, { 'content-type': 'text/plain' }).end('cross-origin request refused');
    if (url.pathname === '/') return res.writeHead(302, { location: '/ui/' }).end();
    if (url.pathname.startsWith('/v1/')) {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of req) {
        size += (c as Buffer).length;
        if (size > MAX_BODY) return res.writeHead(413).end();
        chunks.push(c as Buffer);
      }
      const headers: Record<string, string> = {};
      for (const h of FORWARDED) {
        const v = req.headers[h];
        if (typeof v === 'string') headers[h] = v;
      }
      const answer = await forward(
        req.method ?? 'GET',
        `${url.pathname}${url.search}`,
        headers,
        Buffer.concat(chunks),
      );
      const out = Buffer.from(await answer.arrayBuffer());
      return res
        .writeHead(answer.status, {
          'content-type': answer.headers.get('content-type') ?? 'application/json',
        })
        .end(out);
    }
    if (req.method !== 'GET') return res.writeHead(405).end();
    const a = await uiAnswer(url.pathname, url.searchParams, {
      ...(opts.resultsBucket ? { resultsBucket: opts.resultsBucket } : {}),
      delivery: async (id) =>
        deliveryFromResponse(await forward('GET', `/v1/deliveries/${encodeURIComponent(id)}`, {})),
      read: readObject,
    });
    res.writeHead(a.statusCode, a.headers).end(a.body);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          success: false,
          response: null,
          error: { code: 'PROXY', text: `relay ui could not reach the API: ${(err as Error).message}` },
        }),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  self = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `http://${self}/ui/`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
