/**
 * The local AWS data plane, all on 127.0.0.1, no account, no network:
 * - fauxqs (programmatic `buildApp()` + `listen({ host: '127.0.0.1' })`): S3 and SQS on one port, with the
 *   hooks of s3-hooks.ts (object-created events, versioning shim);
 * - DynamoDB Local (Java child process, see dynamodb-local.ts);
 * - a tiny Secrets Manager emulator (secrets-emulator.ts).
 *
 * Everything is in memory, unless `dataDir` is given: then the whole state is kept in that folder (layout in
 * data-dir.ts) and a later start on the same folder finds it again — fauxqs's own SQLite persistence, the S3
 * shim's state, DynamoDB Local's `-dbPath`, the secrets file — and the folder is locked while they run.
 */
import { mkdirSync } from 'node:fs';
import type { buildApp } from 'fauxqs';
import { type DataDir, openDataDir } from './data-dir.ts';
import { type DynamoDbLocal, type DynamoDbLocalOptions, startDynamoDbLocal } from './dynamodb-local.ts';
import { withoutSqliteWarning } from './quiet-import.ts';
import { attachS3Hooks, openS3ShimState, type S3Watch } from './s3-hooks.ts';
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
  /**
   * Keep every emulator's state in this folder across restarts (created when missing; locked while running:
   * a second start on it fails with DataDirInUseError). Default: in memory, gone on stop.
   */
  dataDir?: string;
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
  /** The data dir the state is kept in (absolute), or undefined: in memory. */
  dataDir: DataDir | undefined;
  timings: EmulatorTimings;
  stop(): Promise<void>;
}

type FauxqsStores = NonNullable<NonNullable<Parameters<typeof buildApp>[0]>['stores']>;

/** The part of fauxqs's PersistenceManager (dist/persistence.js) used here. */
interface FauxqsPersistence {
  load(sqs: FauxqsStores['sqsStore'], sns: FauxqsStores['snsStore'], s3: FauxqsStores['s3Store']): void;
  close(): void;
}

/**
 * fauxqs's stores backed by its SQLite persistence in `dir` (`fauxqs.db`), loaded with what an earlier run kept.
 *
 * fauxqs wires persistence only inside `startFauxqs()`, which listens on 0.0.0.0 and does not hand out its app
 * (the S3 hooks need it before `listen`). So this does what `startFauxqs({ dataDir })` does (fauxqs 2.4.1,
 * dist/app.js) and gives the stores to `buildApp({ stores })`, a public option. The store and persistence
 * classes are not exported by the package, so they are imported from its dist/ files beside the entry point; a
 * fauxqs release that moves them fails here with a clear message (and test/local/persistence.test.ts).
 */
async function persistentFauxqsStores(dir: string): Promise<{ stores: FauxqsStores; close(): void }> {
  const entry = import.meta.resolve('fauxqs');
  const load = async <T>(file: string, name: string): Promise<T> => {
    const mod = (await import(new URL(file, entry).href).catch(() => ({}))) as Record<string, unknown>;
    if (typeof mod[name] !== 'function')
      throw new Error(
        `fauxqs has no ${name} in dist/${file} (this code follows fauxqs 2.4.1): --data-dir cannot keep S3 and SQS state with the installed version`,
      );
    return mod[name] as T;
  };
  const [SqsStore, SnsStore, S3Store, PersistenceManager] = await withoutSqliteWarning(() =>
    Promise.all([
      load<new () => FauxqsStores['sqsStore']>('./sqs/sqsStore.js', 'SqsStore'),
      load<new () => FauxqsStores['snsStore']>('./sns/snsStore.js', 'SnsStore'),
      load<new () => FauxqsStores['s3Store']>('./s3/s3Store.js', 'S3Store'),
      load<new (dataDir: string) => FauxqsPersistence>('./persistence.js', 'PersistenceManager'),
    ]),
  );
  const stores: FauxqsStores = { sqsStore: new SqsStore(), snsStore: new SnsStore(), s3Store: new S3Store() };
  const persistence = new PersistenceManager(dir);
  // As startFauxqs: load first, then attach (so that loading writes nothing back).
  persistence.load(stores.sqsStore, stores.snsStore, stores.s3Store);
  const attach = (target: object) => Object.assign(target, { persistence });
  attach(stores.sqsStore);
  attach(stores.snsStore);
  attach(stores.s3Store);
  for (const queue of stores.sqsStore.allQueues()) attach(queue);
  return { stores, close: () => persistence.close() };
}

export async function startEmulators(opts: EmulatorOptions = {}): Promise<Emulators> {
  const region = opts.region ?? 'us-east-1';
  const t0 = Date.now();
  // The lock first: nothing may touch a data dir another stack is using.
  const dataDir = opts.dataDir ? await openDataDir(opts.dataDir) : undefined;

  const fauxqsP = (async () => {
    const started = Date.now();
    const { buildApp } = await withoutSqliteWarning(() => import('fauxqs'));
    const persisted = dataDir ? await persistentFauxqsStores(dataDir.path('fauxqs')) : undefined;
    const shimState = dataDir
      ? await openS3ShimState(dataDir.path('s3Shim')).catch((err: unknown) => {
          persisted?.close();
          throw err;
        })
      : undefined;
    const app = buildApp({
      logger: opts.logger ?? false,
      defaultRegion: region,
      ...(persisted ? { stores: persisted.stores } : {}),
    });
    app.addHook('onClose', async () => {
      persisted?.close();
      shimState?.close();
    });
    const s3Events = attachS3Hooks(app, { state: shimState });
    try {
      await app.listen({ host: '127.0.0.1', port: opts.fauxqsPort ?? 0 });
    } catch (err) {
      await app.close();
      throw err;
    }
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    return { app, s3Events, endpoint: `http://127.0.0.1:${port}`, ms: Date.now() - started };
  })();
  const secretsP = (async () => {
    const started = Date.now();
    const secrets = await startSecretsEmulator({
      region,
      port: opts.secretsPort,
      ...(dataDir ? { file: dataDir.path('secrets') } : {}),
    });
    return { secrets, ms: Date.now() - started };
  })();
  const ddbP: Promise<DynamoDbLocal | undefined> = (async () => {
    if (opts.dynamodb === false) return undefined;
    if (!dataDir) return startDynamoDbLocal(opts.dynamodbOptions);
    const dbPath = dataDir.path('dynamodb');
    mkdirSync(dbPath, { recursive: true });
    return startDynamoDbLocal({ ...opts.dynamodbOptions, dbPath });
  })();

  const results = await Promise.allSettled([fauxqsP, secretsP, ddbP]);
  const [fq, sm, ddb] = results;
  if (fq.status === 'rejected' || sm.status === 'rejected' || ddb.status === 'rejected') {
    // Stop whatever did start, then report the first failure.
    if (fq.status === 'fulfilled') await fq.value.app.close();
    if (sm.status === 'fulfilled') await sm.value.secrets.stop();
    if (ddb.status === 'fulfilled') await ddb.value?.stop();
    dataDir?.release();
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
    dataDir,
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
        // Only once every emulator has let go of its files.
        dataDir?.release();
      })();
      return stopping;
    },
  };
}
