/**
 * The local AWS data plane, all on 127.0.0.1, no account, no network:
 * - fauxqs (programmatic `buildApp()` + `listen({ host: '127.0.0.1' })`): S3 and SQS on one port, with the
 *   hooks of s3-hooks.ts (object-created events, versioning shim);
 * - DynamoDB Local (Java child process, see dynamodb-local.ts);
 * - a tiny Secrets Manager emulator (secrets-emulator.ts).
 */
import { type DynamoDbLocal, type DynamoDbLocalOptions, startDynamoDbLocal } from './dynamodb-local.ts';
import { attachS3Hooks, type S3Watch } from './s3-hooks.ts';
import { type SecretsEmulator, startSecretsEmulator } from './secrets-emulator.ts';

export interface EmulatorOptions {
  region?: string;
  /** Start DynamoDB Local (default true). Tests that need no table save ~1.3 s and a JVM. */
  dynamodb?: boolean;
  dynamodbOptions?: DynamoDbLocalOptions;
  /** Fixed ports (default: ephemeral). */
  fauxqsPort?: number;
  secretsPort?: number;
  /** fauxqs request logging (default off). */
  logger?: boolean;
}

export interface EmulatorTimings {
  fauxqsMs: number;
  secretsMs: number;
  /** Undefined when DynamoDB Local was not started. */
  dynamodbMs?: number;
  /** Wall time of startEmulators (the three start in parallel). */
  totalMs: number;
}

export interface Emulators {
  region: string;
  s3Endpoint: string;
  sqsEndpoint: string;
  /** Undefined when started with `dynamodb: false`. */
  dynamodbEndpoint: string | undefined;
  secretsEndpoint: string;
  /** Object-created events and the versioning shim's state (see s3-hooks.ts). */
  s3Events: S3Watch;
  /** Direct access to the Secrets Manager emulator (seeding, inspection). */
  secrets: SecretsEmulator;
  /** pid of the DynamoDB Local Java process (tests check it is gone after stop). */
  dynamodbPid: number | undefined;
  timings: EmulatorTimings;
  stop(): Promise<void>;
}

/**
 * Imports fauxqs without the "SQLite is an experimental feature" warning its `node:sqlite` import prints on
 * Node 22 (fauxqs keeps everything in memory here; the warning is noise in `npm start`). Other warnings pass.
 */
async function importFauxqs(): Promise<typeof import('fauxqs')> {
  const original = process.emitWarning;
  const filtered = function (this: NodeJS.Process, warning: string | Error, ...rest: unknown[]) {
    const text = typeof warning === 'string' ? warning : warning.message;
    if (/SQLite is an experimental feature/.test(text)) return;
    return (original as (...a: unknown[]) => void).call(process, warning, ...rest);
  };
  process.emitWarning = filtered as typeof process.emitWarning;
  try {
    return await import('fauxqs');
  } finally {
    process.emitWarning = original;
  }
}

export async function startEmulators(opts: EmulatorOptions = {}): Promise<Emulators> {
  const region = opts.region ?? 'us-east-1';
  const t0 = Date.now();

  const fauxqsP = (async () => {
    const started = Date.now();
    const { buildApp } = await importFauxqs();
    const app = buildApp({ logger: opts.logger ?? false, defaultRegion: region });
    const s3Events = attachS3Hooks(app);
    await app.listen({ host: '127.0.0.1', port: opts.fauxqsPort ?? 0 });
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    return { app, s3Events, endpoint: `http://127.0.0.1:${port}`, ms: Date.now() - started };
  })();
  const secretsP = (async () => {
    const started = Date.now();
    const secrets = await startSecretsEmulator({ region, port: opts.secretsPort });
    return { secrets, ms: Date.now() - started };
  })();
  const ddbP: Promise<DynamoDbLocal | undefined> =
    opts.dynamodb === false ? Promise.resolve(undefined) : startDynamoDbLocal(opts.dynamodbOptions);

  const results = await Promise.allSettled([fauxqsP, secretsP, ddbP]);
  const [fq, sm, ddb] = results;
  if (fq.status === 'rejected' || sm.status === 'rejected' || ddb.status === 'rejected') {
    // Stop whatever did start, then report the first failure.
    if (fq.status === 'fulfilled') await fq.value.app.close();
    if (sm.status === 'fulfilled') await sm.value.secrets.stop();
    if (ddb.status === 'fulfilled') await ddb.value?.stop();
    const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    throw failed.reason;
  }

  let stopping: Promise<void> | undefined;
  return {
    region,
    s3Endpoint: fq.value.endpoint,
    sqsEndpoint: fq.value.endpoint,
    dynamodbEndpoint: ddb.value?.endpoint,
    secretsEndpoint: sm.value.secrets.endpoint,
    s3Events: fq.value.s3Events,
    secrets: sm.value.secrets,
    dynamodbPid: ddb.value?.javaPid,
    timings: {
      fauxqsMs: fq.value.ms,
      secretsMs: sm.value.ms,
      dynamodbMs: ddb.value?.startMs,
      totalMs: Date.now() - t0,
    },
    stop() {
      stopping ??= (async () => {
        await Promise.allSettled([fq.value.app.close(), sm.value.secrets.stop(), ddb.value?.stop()]);
        fq.value.s3Events.removeAllListeners();
      })();
      return stopping;
    },
  };
}
