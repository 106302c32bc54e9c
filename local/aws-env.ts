/**
 * The environment the relay's handlers run with locally, and the guards that keep them off real AWS.
 *
 * Endpoints use the SDK v3's own service-specific variables `AWS_ENDPOINT_URL_<SERVICE ID>` (the service id
 * upper-cased, spaces → `_`; verified in @smithy/core's getEndpointUrlConfig and the clients' serviceId:
 * "S3", "SQS", "DynamoDB", "Secrets Manager"), so handler code constructs its clients with no endpoint at all,
 * exactly as on AWS.
 *
 * Off real AWS: static fake credentials end the credential chain before SSO, IMDS or container credentials;
 * shared config files point at a path that does not exist (no profile, no `endpoint_url`, no SSO session);
 * variables that would change the chain or ignore the endpoints are removed. One hole remains that the
 * environment cannot close: SQS clients take the host of an `https://sqs.<region>.amazonaws.com/...` QueueUrl
 * over the configured endpoint (`useQueueUrlAsEndpoint`). `guardLoopback()` closes it (and every other
 * non-loopback connection) at the socket level.
 */
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface LocalEndpoints {
  s3: string;
  sqs: string;
  dynamodb?: string;
  secretsManager: string;
}

/** Obviously fake static credentials (emulators do not verify signatures). */
export const FAKE_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

export const ENDPOINT_ENV = {
  s3: 'AWS_ENDPOINT_URL_S3',
  sqs: 'AWS_ENDPOINT_URL_SQS',
  dynamodb: 'AWS_ENDPOINT_URL_DYNAMODB',
  secretsManager: 'AWS_ENDPOINT_URL_SECRETS_MANAGER',
} as const;

/** Removed from the environment: each could send the SDK to a real credential source or a real endpoint. */
export const UNSET_ENV = [
  'AWS_PROFILE',
  'AWS_DEFAULT_PROFILE',
  'AWS_SESSION_TOKEN',
  'AWS_SECURITY_TOKEN',
  'AWS_CREDENTIAL_EXPIRATION',
  'AWS_ROLE_ARN',
  'AWS_ROLE_SESSION_NAME',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
  'AWS_EC2_METADATA_SERVICE_ENDPOINT',
  'AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE',
  'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS',
  'AWS_ENDPOINT_URL',
  'AWS_USE_FIPS_ENDPOINT',
  'AWS_USE_DUALSTACK_ENDPOINT',
  'AWS_S3_US_EAST_1_REGIONAL_ENDPOINT',
] as const;

/** The AWS part of the handlers' environment. */
export function buildAwsEnv(endpoints: LocalEndpoints, region = 'us-east-1'): Record<string, string> {
  const noConfig = join(tmpdir(), 'factory-relay-local-no-aws-config');
  return {
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_ACCESS_KEY_ID: FAKE_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: FAKE_CREDENTIALS.secretAccessKey,
    [ENDPOINT_ENV.s3]: endpoints.s3,
    [ENDPOINT_ENV.sqs]: endpoints.sqs,
    ...(endpoints.dynamodb ? { [ENDPOINT_ENV.dynamodb]: endpoints.dynamodb } : {}),
    [ENDPOINT_ENV.secretsManager]: endpoints.secretsManager,
    RELAY_S3_FORCE_PATH_STYLE: 'true',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: noConfig,
    AWS_SHARED_CREDENTIALS_FILE: noConfig,
  };
}

/**
 * Sets `vars` and removes `unset` on `target` (default process.env). Returns a function that puts every touched
 * variable back as it was.
 */
export function applyEnv(
  vars: Record<string, string>,
  unset: readonly string[] = UNSET_ENV,
  target: NodeJS.ProcessEnv = process.env,
): () => void {
  const before = new Map<string, string | undefined>();
  for (const name of [...Object.keys(vars), ...unset]) if (!before.has(name)) before.set(name, target[name]);
  for (const name of unset) delete target[name];
  for (const [name, value] of Object.entries(vars)) target[name] = value;
  return () => {
    for (const [name, value] of before) {
      if (value === undefined) delete target[name];
      else target[name] = value;
    }
  };
}

// ---------------------------------------------------------------------------------------------------------
// Loopback guard
// ---------------------------------------------------------------------------------------------------------

export class NonLoopbackConnectionError extends Error {
  readonly code = 'ERR_LOCAL_STACK_LOOPBACK_ONLY';
  constructor(
    readonly host: string,
    allowed: readonly string[] = [],
  ) {
    super(
      `local stack: refused a connection to ${host} (only loopback is allowed: 127.0.0.0/8, ::1, localhost${allowed.length ? `; and ${allowed.join(', ')}` : ''})`,
    );
    this.name = 'NonLoopbackConnectionError';
  }
}

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return (
    h === 'localhost' ||
    h.endsWith('.localhost') ||
    /^127(\.\d{1,3}){3}$/.test(h) ||
    h === '::1' ||
    h === '0:0:0:0:0:0:0:1' ||
    /^::ffff:127(\.\d{1,3}){3}$/.test(h)
  );
}

let guardDepth = 0;
let originalConnect: typeof net.Socket.prototype.connect | undefined;
/** Host names let through besides loopback, with how many installed guards allow each. */
const allowedHosts = new Map<string, number>();
/** Connections the guard refused (host names), newest last. */
export const refusedConnections: string[] = [];

function targetHost(args: unknown[]): string | undefined {
  // net.connect() hands Socket#connect a normalized [options, cb] array; direct calls pass
  // (options[, cb]), (port[, host][, cb]) or (path[, cb]).
  const first = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0];
  if (first && typeof first === 'object') {
    const o = first as { host?: unknown; path?: unknown };
    if (typeof o.path === 'string' && o.path) return undefined; // IPC socket
    return typeof o.host === 'string' && o.host ? o.host : 'localhost';
  }
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first)))
    return typeof args[1] === 'string' && args[1] ? args[1] : 'localhost';
  return undefined; // a path
}

/** A host name as the guard compares it: lower case, without IPv6 brackets or a trailing dot. */
export function normalizeHost(host: string): string {
  return host
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
    .toLowerCase();
}

/**
 * Refuses every TCP connection this process opens to a host that is not loopback (before any DNS lookup),
 * failing the socket with NonLoopbackConnectionError. `allowHosts` names hosts let through too, exactly as
 * written (the host names of a config's base_urls; no wildcard, no subdomain). Reference-counted: each
 * uninstaller removes its own hosts, the last one the guard.
 */
export function guardLoopback(options: { allowHosts?: readonly string[] } = {}): () => void {
  const mine = [...new Set((options.allowHosts ?? []).map(normalizeHost))].filter((h) => !isLoopbackHost(h));
  for (const h of mine) allowedHosts.set(h, (allowedHosts.get(h) ?? 0) + 1);
  if (guardDepth++ === 0) {
    originalConnect = net.Socket.prototype.connect;
    const original = originalConnect;
    net.Socket.prototype.connect = function guardedConnect(this: net.Socket, ...args: unknown[]) {
      const host = targetHost(args);
      if (host !== undefined && !isLoopbackHost(host) && !allowedHosts.has(normalizeHost(host))) {
        refusedConnections.push(host);
        const err = new NonLoopbackConnectionError(host, [...allowedHosts.keys()]);
        process.nextTick(() => this.destroy(err));
        return this;
      }
      return (original as (...a: unknown[]) => net.Socket).apply(this, args);
    } as typeof net.Socket.prototype.connect;
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    for (const h of mine) {
      const n = (allowedHosts.get(h) ?? 1) - 1;
      if (n > 0) allowedHosts.set(h, n);
      else allowedHosts.delete(h);
    }
    if (--guardDepth === 0 && originalConnect) {
      net.Socket.prototype.connect = originalConnect;
      originalConnect = undefined;
    }
  };
}
