/**
 * The one way the relay's Lambdas talk to AWS: a signed HTTPS request (SigV4 by `aws4`), over Node's own
 * keep-alive agent, retried as the AWS SDK v3's "standard" mode retries. The adapters beside it (DynamoDB, S3,
 * SQS, Secrets Manager, CloudWatch Logs) speak each service's wire protocol on top.
 *
 * Why not the AWS SDK v3 in the Lambdas: it was ~400 KiB of each minified bundle (smithy core, the S3 client's
 * model and checksums, XML builders) for the 17 operations the relay calls, and bundles were to stay under
 * 400 KiB (issue 12). Tests, the local stack and the bench keep using the SDK: it checks this client from the
 * other side (the same emulators answer both).
 *
 * What the SDK did that this file does, on purpose the same way:
 * - endpoints: `AWS_ENDPOINT_URL_<SERVICE>` then `AWS_ENDPOINT_URL`, else the service's regional endpoint;
 *   region from `AWS_REGION` (`AWS_DEFAULT_REGION`); credentials from the Lambda environment
 *   (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), read per request;
 * - retries (standard mode): 3 attempts, on throttling codes, 5xx, 429 and dropped or refused connections,
 *   after a full-jitter exponential delay (base 100 ms, 500 ms when throttled, at most 20 s); a request whose
 *   body is a stream is sent once (it cannot be replayed);
 * - errors: an AwsError whose `name` is the service's error code (`ConditionalCheckFailedException`,
 *   `NoSuchKey`, `ResourceNotFoundException`, …) and `status` the HTTP status.
 *
 * Every call is published on the `factory-relay:aws` diagnostics channel (service, operation, the request body
 * before it is sent, the answer or error after): the bench's meter counts calls and DynamoDB capacity there.
 */
import { channel } from 'node:diagnostics_channel';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import aws4 from 'aws4';

export type AwsService = 'dynamodb' | 's3' | 'sqs' | 'secretsmanager' | 'logs';

/** `AWS_ENDPOINT_URL_<service id>`, as the SDK v3 reads them (local/aws-env.ts sets them locally). */
export const ENDPOINT_ENV: Readonly<Record<AwsService, string>> = {
  dynamodb: 'AWS_ENDPOINT_URL_DYNAMODB',
  s3: 'AWS_ENDPOINT_URL_S3',
  sqs: 'AWS_ENDPOINT_URL_SQS',
  secretsmanager: 'AWS_ENDPOINT_URL_SECRETS_MANAGER',
  logs: 'AWS_ENDPOINT_URL_CLOUDWATCH_LOGS',
};

/** The SDK v3 standard retry strategy's error codes (@smithy/service-error-classification). */
const THROTTLING = new Set([
  'BandwidthLimitExceeded',
  'EC2ThrottledException',
  'LimitExceededException',
  'PriorRequestNotComplete',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'ThrottledException',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'TransactionInProgressException',
]);
const TRANSIENT_CODES = new Set([
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
]);
const TRANSIENT_STATUS = new Set([500, 502, 503, 504]);
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED']);

/** An error answer of an AWS service (or a request that never got one). */
export class AwsError extends Error {
  constructor(
    /** The service's error code (`ConditionalCheckFailedException`, `NoSuchKey`), or the network error's. */
    name: string,
    message: string,
    /** HTTP status; 0 when no answer came. */
    readonly status: number,
    /** Extra fields of a JSON error answer (DynamoDB's `Item` on a failed condition). */
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = name;
  }
  get throttling(): boolean {
    return THROTTLING.has(this.name) || this.status === 429;
  }
  get retryable(): boolean {
    return (
      this.throttling ||
      TRANSIENT_CODES.has(this.name) ||
      TRANSIENT_STATUS.has(this.status) ||
      (this.status === 0 && NETWORK_CODES.has(this.name))
    );
  }
}

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface TransportOptions {
  /** Overrides the endpoint from the environment (tests and local tools). */
  endpoint?: string;
  region?: string;
  credentials?: Credentials;
  /** Attempts per request, the first included (SDK standard mode: 3). */
  maxAttempts?: number;
  /** Sockets per host kept open and in use at once. */
  maxSockets?: number;
  /** ms without a byte before a request is given up (retried when it may be). */
  idleTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface AwsRequest {
  /** What the call is named in the diagnostics channel (the API's operation name). */
  operation: string;
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE';
  /** The path, each segment already percent-encoded; a query string may follow. */
  path: string;
  /** Host to use instead of the endpoint's (S3 virtual-hosted buckets). */
  host?: string;
  headers?: Record<string, string>;
  /** A string or Buffer (signed, replayable), or a stream (sent once, unsigned payload: S3 only). */
  body?: string | Buffer | Readable;
}

export interface AwsResponse {
  status: number;
  headers: IncomingMessage['headers'];
  /** The answer's body, unread: the caller reads it whole (`text`) or streams it. */
  body: IncomingMessage;
}

/**
 * What the diagnostics channel carries for one call: the same object is published at its start and, with
 * `phase: 'end'` and its output or error, at its end.
 */
export interface AwsCallEvent {
  service: AwsService;
  operation: string;
  /** The JSON request body (JSON protocols), before it is serialized: a subscriber may add to it. */
  input?: Record<string, unknown>;
  output?: unknown;
  error?: AwsError;
  phase: 'start' | 'end';
}

/** Publishes the start of a call; returns what publishes its end. */
export function observe(
  service: AwsService,
  operation: string,
  input?: Record<string, unknown>,
): (outcome: { output?: unknown; error?: unknown }) => void {
  if (!AWS_CALLS.hasSubscribers) return () => undefined;
  const event: AwsCallEvent = { service, operation, ...(input ? { input } : {}), phase: 'start' };
  AWS_CALLS.publish(event);
  return ({ output, error }) => {
    event.phase = 'end';
    if (error instanceof AwsError) event.error = error;
    else if (error !== undefined)
      event.error = new AwsError((error as Error).name ?? 'Error', String((error as Error).message), 0);
    else event.output = output;
    AWS_CALLS.publish(event);
  };
}

/** Subscribe to see every AWS call of this process (bench/meter.ts). */
export const AWS_CALLS = channel('factory-relay:aws');

export async function readText(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function readBytes(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export class AwsTransport {
  readonly region: string;
  /** The endpoint's origin (`https://dynamodb.us-east-1.amazonaws.com`, `http://127.0.0.1:4566`). */
  readonly endpoint: URL;
  /** Whether the endpoint was configured (emulators, VPC endpoints): S3 then addresses buckets by path. */
  readonly customEndpoint: boolean;
  private readonly http: HttpAgent | HttpsAgent;
  private readonly maxAttempts: number;
  private readonly idleTimeoutMs: number;
  private readonly env: NodeJS.ProcessEnv;
  private readonly credentials: Credentials | undefined;

  constructor(
    readonly service: AwsService,
    opts: TransportOptions = {},
  ) {
    this.env = opts.env ?? process.env;
    this.region = opts.region ?? this.env.AWS_REGION ?? this.env.AWS_DEFAULT_REGION ?? 'us-east-1';
    const configured = opts.endpoint ?? this.env[ENDPOINT_ENV[service]] ?? this.env.AWS_ENDPOINT_URL;
    this.customEndpoint = configured !== undefined && configured !== '';
    this.endpoint = new URL(
      this.customEndpoint ? (configured as string) : `https://${service}.${this.region}.amazonaws.com`,
    );
    const agentOpts = { keepAlive: true, maxSockets: opts.maxSockets ?? 50 };
    this.http = this.endpoint.protocol === 'http:' ? new HttpAgent(agentOpts) : new HttpsAgent(agentOpts);
    this.maxAttempts = Math.max(1, opts.maxAttempts ?? 3);
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 60_000;
    this.credentials = opts.credentials;
  }

  private currentCredentials(): Credentials {
    if (this.credentials) return this.credentials;
    const accessKeyId = this.env.AWS_ACCESS_KEY_ID;
    const secretAccessKey = this.env.AWS_SECRET_ACCESS_KEY;
    if (!accessKeyId || !secretAccessKey)
      throw new AwsError('CredentialsProviderError', 'no AWS credentials in the environment', 0);
    const sessionToken = this.env.AWS_SESSION_TOKEN;
    return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
  }

  /**
   * Sends a signed request; resolves with any answer the caller decides on (2xx, 3xx, 4xx), throws AwsError
   * for what cannot be answered (network) and retries what the SDK would (after the caller's `decode` turned
   * an answer into an AwsError, through `call`).
   */
  private once(req: AwsRequest): Promise<AwsResponse> {
    const streamed = req.body !== undefined && typeof req.body !== 'string' && !Buffer.isBuffer(req.body);
    const headers: Record<string, string> = { ...(req.headers ?? {}) };
    // aws4 hashes a string or Buffer body itself; a stream goes unhashed, as S3 allows over TLS.
    if (streamed) headers['X-Amz-Content-Sha256'] = 'UNSIGNED-PAYLOAD';
    const host = req.host ?? this.endpoint.host;
    const signed = aws4.sign(
      {
        service: this.service,
        region: this.region,
        method: req.method,
        host,
        path: req.path,
        headers,
        ...(streamed ? {} : { body: req.body as string | Buffer | undefined }),
      },
      this.currentCredentials(),
    );
    const send = this.endpoint.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise<AwsResponse>((resolve, reject) => {
      const r = send(
        {
          agent: this.http,
          protocol: this.endpoint.protocol,
          // A virtual host (`bucket.s3.<region>.amazonaws.com`) is connected to by name, on the endpoint's port.
          hostname: req.host ? req.host.replace(/:\d+$/, '') : this.endpoint.hostname,
          port: this.endpoint.port || undefined,
          method: req.method,
          path: signed.path,
          headers: signed.headers as Record<string, string>,
          timeout: this.idleTimeoutMs,
        },
        (res) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res }),
      );
      r.on('timeout', () => r.destroy(Object.assign(new Error('socket idle'), { code: 'ETIMEDOUT' })));
      r.on('error', (err: NodeJS.ErrnoException) =>
        reject(new AwsError(err.code ?? 'NetworkError', `${req.operation}: ${err.message}`, 0)),
      );
      if (streamed) {
        const body = req.body as Readable;
        // A body that fails (a vendor's answer cut off) ends the request at once, not at the idle timeout.
        body.once('error', (err) => r.destroy(err));
        body.pipe(r);
      } else r.end(req.body);
    });
  }

  /**
   * One operation: sends, then `decode`s the answer (throwing an AwsError for error answers); retries
   * retryable errors with the SDK's standard backoff while attempts and a replayable body remain.
   */
  async call<T>(req: AwsRequest, decode: (res: AwsResponse) => Promise<T>): Promise<T> {
    const replayable = req.body === undefined || typeof req.body === 'string' || Buffer.isBuffer(req.body);
    const attempts = replayable ? this.maxAttempts : 1;
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await this.once(req);
        return await decode(res);
      } catch (err) {
        if (!(err instanceof AwsError) || !err.retryable || attempt >= attempts) throw err;
        const base = err.throttling ? 500 : 100;
        await sleep(Math.random() * Math.min(20_000, base * 2 ** (attempt - 1)));
      }
    }
  }

  /**
   * A JSON-protocol operation (DynamoDB and SQS: awsJson1_0; Secrets Manager and CloudWatch Logs: awsJson1_1),
   * `target` as `X-Amz-Target` wants it (`DynamoDB_20120810.UpdateItem`).
   */
  async json<T>(
    target: string,
    version: '1.0' | '1.1',
    input: Record<string, unknown>,
    extraHeaders: Record<string, string> = {},
  ): Promise<T> {
    const operation = target.slice(target.lastIndexOf('.') + 1);
    const done = observe(this.service, operation, input);
    const body = JSON.stringify(input);
    try {
      const out = await this.call(
        {
          operation,
          method: 'POST',
          path: '/',
          headers: {
            'Content-Type': `application/x-amz-json-${version}`,
            'X-Amz-Target': target,
            ...extraHeaders,
          },
          body,
        },
        async (res) => {
          const text = await readText(res.body);
          if (res.status >= 200 && res.status < 300) return (text ? JSON.parse(text) : {}) as T;
          throw jsonError(res, text);
        },
      );
      done({ output: out });
      return out;
    } catch (err) {
      done({ error: err });
      throw err;
    }
  }

  /** Closes idle sockets (tests; a Lambda keeps them). */
  destroy(): void {
    this.http.destroy();
  }
}

/** An AwsError from a JSON protocol's error answer (`__type` "ns#Code" or `x-amzn-errortype`). */
function jsonError(res: AwsResponse, text: string): AwsError {
  let body: Record<string, unknown> = {};
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    body = {};
  }
  const header = res.headers['x-amzn-errortype'];
  const raw =
    (typeof body.__type === 'string' && body.__type) ||
    (typeof body.code === 'string' && body.code) ||
    (typeof header === 'string' && header) ||
    `Http${res.status}`;
  const name = (raw.split('#').pop() ?? raw).split(':')[0] ?? raw;
  const message = String(body.message ?? body.Message ?? `${name} (HTTP ${res.status})`);
  return new AwsError(name, message, res.status, body);
}
