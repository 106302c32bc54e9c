/**
 * The one place that names the environment each Lambda reads. CDK sets these (lib/), the local stack sets
 * them (local/), and handlers read them only through this module.
 *
 * AWS SDK endpoints are not relay settings: locally they come from the SDK's own `AWS_ENDPOINT_URL_<SERVICE>`
 * variables, so the handler code is the same on AWS and on the emulators.
 */
export const ENV = {
  /** DynamoDB table holding delivery records, destination state and rate-limit buckets. */
  table: 'RELAY_TABLE',
  /** JSON object: vendor id → SQS queue URL of that vendor's forwarder queue (router only). */
  queueUrls: 'RELAY_QUEUE_URLS',
  /** URL of this forwarder's dead-letter queue: a delivery that ran out of attempts is moved there (DEAD). */
  deadLetterUrl: 'RELAY_DEAD_LETTER_URL',
  /** Name of the results bucket (vendor results written back, e.g. processed images). */
  resultsBucket: 'RELAY_RESULTS_BUCKET',
  /** Vendor id this forwarder serves (forwarder only). */
  vendor: 'RELAY_VENDOR',
  /**
   * The relay config as JSON text, validated before it got here: baked into the bundle by CDK (a generated module
   * esbuild injects, which sets it on load: lib/bundling.ts bakedBundleSettings), set by the local stack. The
   * only config a handler reads.
   */
  configJson: 'RELAY_CONFIG_JSON',
  /** Path to a config file (YAML or JSON) for `cdk synth` (bin/factory-relay.ts); no handler reads it. */
  configFile: 'RELAY_CONFIG_FILE',
  /** Prefix of Secrets Manager secret names (optional), e.g. `factory-relay/`. */
  secretPrefix: 'RELAY_SECRET_PREFIX',
  /** `true` to address S3 path-style (the local emulator needs it). */
  s3ForcePathStyle: 'RELAY_S3_FORCE_PATH_STYLE',
  /** Public base URL of the HTTP API, used to build vendor callback URLs. */
  callbackBaseUrl: 'RELAY_CALLBACK_BASE_URL',
  /** Name of the Secrets Manager secret holding the key callback tokens are signed with (≥ 32 random bytes). */
  callbackKeySecret: 'RELAY_CALLBACK_KEY_SECRET',
  /** Log level: debug | info | warn | error (default info). */
  logLevel: 'RELAY_LOG_LEVEL',
  /** Ingest bucket name (ops: restream lists it, `where` by key). */
  ingestBucket: 'RELAY_INGEST_BUCKET',
  /** JSON list of the relay's queues for ops: [{name, url, dlqUrl, vendor?}], the ingest queue named `ingest`. */
  opsQueues: 'RELAY_OPS_QUEUES',
  /** The relay's JSON log file (local stack): what `GET /v1/log/stream` reads. */
  logFile: 'RELAY_LOG_FILE',
  /** JSON list of CloudWatch log group names (AWS): what `GET /v1/log/stream` reads. */
  logGroups: 'RELAY_LOG_GROUPS',
  /**
   * MiB streamed between two scavenges of the bound on Buffer garbage (commons/stream-gc.ts): default 4, `0`
   * turns the bound off.
   */
  streamGcMib: 'RELAY_STREAM_GC_MIB',
  /** How often a Lambda looks for a newer saved config version, in seconds (default 60). */
  configRefreshSeconds: 'RELAY_CONFIG_REFRESH_SECONDS',
} as const;

export type EnvName = (typeof ENV)[keyof typeof ENV];

export class MissingEnvError extends Error {
  constructor(readonly variable: string) {
    super(`environment variable ${variable} is required but not set`);
    this.name = 'MissingEnvError';
  }
}

export function requireEnv(name: EnvName, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value === '') throw new MissingEnvError(name);
  return value;
}

export function optionalEnv(name: EnvName, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}
