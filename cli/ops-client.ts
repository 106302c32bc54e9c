/**
 * Where the `relay` ops commands send their requests: the local stack (`.relay/endpoints.json`, written by
 * `npm start`) by default, or a deployed stack (`--stack NAME`: its `OpsApiUrl` output from CloudFormation,
 * requests signed with SigV4 by @smithy/signature-v4 and the SDK's default credential chain).
 */
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { SignatureV4 } from '@smithy/signature-v4';

export interface Envelope<T = Record<string, unknown>> {
  success: boolean;
  response: T;
  error: { code: string; text: string } | null;
}

/** A body sent as it is (config YAML as `text/yaml`); anything else is sent as JSON. */
export interface RawBody {
  raw: string;
  contentType: string;
}

export interface OpsClient {
  target: string;
  /**
   * Answers the HTTP status and the parsed JSON body: the envelope, or (from API Gateway, a proxy, anything that
   * is not the API) whatever it is; a body that is not JSON is `{message: <its text>}`. Throws
   * UnreachableError when no answer came at all.
   */
  call<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: Envelope<T> }>;
}

/** No HTTP answer at all (the stack is not running, a DNS or TLS failure): one line for the operator. */
export class UnreachableError extends Error {
  constructor(target: string, cause: unknown) {
    const why = (cause as { cause?: { code?: string; message?: string } })?.cause;
    super(
      `cannot reach ${target}: ${why?.code ?? why?.message ?? (cause as Error)?.message ?? String(cause)}${
        target.startsWith('local') ? ' (is npm start running?)' : ''
      }`,
    );
    this.name = 'UnreachableError';
  }
}

const isRaw = (body: unknown): body is RawBody =>
  typeof body === 'object' && body !== null && typeof (body as RawBody).raw === 'string';

/** The text and content type a body is sent as. */
function encode(body: unknown): { text?: string; contentType: string } {
  if (body === undefined) return { contentType: 'application/json' };
  if (isRaw(body)) return { text: body.raw, contentType: body.contentType };
  return { text: JSON.stringify(body), contentType: 'application/json' };
}

/** The answer's body: its JSON, or `{message}` with its text when it is not JSON. */
async function decode(res: Response): Promise<never> {
  const text = await res.text();
  try {
    return JSON.parse(text) as never;
  } catch {
    const line = text.replace(/\s+/g, ' ').trim().slice(0, 200);
    return { message: line || res.statusText || '(empty answer)' } as never;
  }
}

async function send(target: string, url: URL | string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    throw new UnreachableError(target, err);
  }
}

/** SHA-256 for the signer (the Checksum shape @smithy/signature-v4 takes), from node:crypto. */
class Sha256 {
  private readonly h;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.h = secret ? createHmac('sha256', Buffer.from(secret as ArrayBuffer)) : createHash('sha256');
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.h.update(typeof data === 'string' ? data : Buffer.from(data as ArrayBuffer));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.h.digest());
  }
}

/** What `--stack NAME` names: the deployed stack's ops API (its `OpsApiUrl` output), region and results bucket. */
export interface StackTarget {
  apiUrl: string;
  region: string;
  resultsBucket?: string;
}

/**
 * Reads a deployed stack's outputs from CloudFormation (`relay <ops command> --stack NAME`, `relay ui --stack
 * NAME`). `region` undefined: the SDK's (profile, environment). `cf`: another client (tests point one at a
 * stand-in on loopback).
 */
export async function resolveStack(
  stack: string,
  region: string | undefined,
  cf: CloudFormationClient = new CloudFormationClient(region ? { region } : {}),
): Promise<StackTarget> {
  const out = await cf.send(new DescribeStacksCommand({ StackName: stack }));
  const outputs = out.Stacks?.[0]?.Outputs ?? [];
  const output = (key: string) => outputs.find((o) => o.OutputKey === key)?.OutputValue;
  const apiUrl = output('OpsApiUrl');
  if (!apiUrl) throw new Error(`stack ${stack} has no OpsApiUrl output`);
  const resultsBucket = output('ResultsBucketName');
  return {
    apiUrl,
    region: region ?? (await cf.config.region()),
    ...(resultsBucket ? { resultsBucket } : {}),
  };
}

/**
 * The target of the ops commands. `deps.cloudFormation`: the client `--stack` is resolved with (tests pass a
 * stand-in); made only when a stack is named.
 */
export async function opsClient(
  opts: { stack?: string; region?: string; endpointsFile?: string },
  cwd: string,
  env: Record<string, string | undefined>,
  deps: { cloudFormation?: (region: string | undefined) => CloudFormationClient } = {},
): Promise<OpsClient> {
  if (!opts.stack) {
    const file = resolve(cwd, opts.endpointsFile ?? '.relay/endpoints.json');
    let base: string;
    try {
      base = (JSON.parse(readFileSync(file, 'utf8')) as { httpApi?: string }).httpApi ?? '';
    } catch {
      throw new Error(
        `no local stack: ${file} is missing (run npm start), or name a deployed one with --stack NAME`,
      );
    }
    const target = `local stack ${base}`;
    return {
      target,
      async call(method, path, body) {
        const { text, contentType } = encode(body);
        const res = await send(target, `${base}${path}`, {
          method,
          headers: { 'content-type': contentType, 'x-relay-user': env.USER ?? 'operator' },
          ...(text === undefined ? {} : { body: text }),
        });
        return { status: res.status, body: await decode(res) };
      },
    };
  }
  const asked = opts.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  const { apiUrl: base, region } = await resolveStack(opts.stack, asked, deps.cloudFormation?.(asked));
  const url = new URL(base);
  const signer = new SignatureV4({
    service: 'execute-api',
    region,
    credentials: defaultProvider(),
    sha256: Sha256,
  });
  const target = `stack ${opts.stack} (${base})`;
  return {
    target,
    async call(method, path, body) {
      const full = new URL(path, url);
      const { text, contentType } = encode(body);
      const signed = await signer.sign({
        method,
        protocol: full.protocol,
        hostname: full.hostname,
        path: full.pathname,
        query: Object.fromEntries(full.searchParams),
        headers: { host: full.host, 'content-type': contentType },
        ...(text === undefined ? {} : { body: text }),
      });
      const res = await send(target, full, {
        method,
        headers: signed.headers as Record<string, string>,
        ...(text === undefined ? {} : { body: text }),
      });
      return { status: res.status, body: await decode(res) };
    },
  };
}
