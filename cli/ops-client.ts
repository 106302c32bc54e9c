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

export interface OpsClient {
  target: string;
  call<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: Envelope<T> }>;
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

export async function opsClient(
  opts: { stack?: string; region?: string; endpointsFile?: string },
  cwd: string,
  env: Record<string, string | undefined>,
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
    return {
      target: `local stack ${base}`,
      async call(method, path, body) {
        const res = await fetch(`${base}${path}`, {
          method,
          headers: { 'content-type': 'application/json', 'x-relay-user': env.USER ?? 'operator' },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        return { status: res.status, body: (await res.json()) as never };
      },
    };
  }
  const { apiUrl: base, region } = await resolveStack(
    opts.stack,
    opts.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION,
  );
  const url = new URL(base);
  const signer = new SignatureV4({
    service: 'execute-api',
    region,
    credentials: defaultProvider(),
    sha256: Sha256,
  });
  return {
    target: `stack ${opts.stack} (${base})`,
    async call(method, path, body) {
      const full = new URL(path, url);
      const text = body === undefined ? undefined : JSON.stringify(body);
      const signed = await signer.sign({
        method,
        protocol: full.protocol,
        hostname: full.hostname,
        path: full.pathname,
        query: Object.fromEntries(full.searchParams),
        headers: { host: full.host, 'content-type': 'application/json' },
        ...(text === undefined ? {} : { body: text }),
      });
      const res = await fetch(full, {
        method,
        headers: signed.headers as Record<string, string>,
        body: text,
      });
      return { status: res.status, body: (await res.json()) as never };
    },
  };
}
