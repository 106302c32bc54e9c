/**
 * The whole relay, locally: emulators → resources → environment → the real handler modules → event sources.
 *
 *   S3 PutObject ─(notifier)→ ingest queue ─(runner)→ router ─→ vendor queues ─(runner)→ forwarders ─→ table
 *   schedule ─(runner)→ poller          HTTP API `POST /callbacks/{vendor}/{token}` ─(runner)→ callback
 *
 * One process hosts every function, so RELAY_VENDOR cannot tell a forwarder its vendor: the stack imports
 * `createForwarderHandler(vendorId)` from lambdas/handlers/forwarder.ts and makes one handler per vendor queue.
 * Handler modules are imported after the environment is set (they may read it at import time); ES modules are
 * cached, so run one stack with real handlers per process.
 */

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import type { APIGatewayProxyEventV2, Context, DynamoDBStreamEvent, SQSEvent } from 'aws-lambda';
import writeFileAtomic from 'write-file-atomic';
import { parse as parseYaml } from 'yaml';
import { ENV } from '../lambdas/commons/env.ts';
import { loadConfig, loadConfigFile } from '../lambdas/domain/config/load.ts';
import type { RelayConfig } from '../lambdas/domain/config/types.ts';
import { OPS_ROUTE_KEYS } from '../lambdas/domain/ops/route-keys.ts';
import { VENDORS } from '../lambdas/vendors/registry.ts';
import {
  forwarderSettings,
  SETTINGS,
  vendorMaxReceiveCount,
  visibilityTimeoutSeconds,
} from '../lib/settings.ts';
import { localUiRoutes } from '../ui/local-routes.ts';
import { applyEnv, buildAwsEnv, guardLoopback, type LocalEndpoints, UNSET_ENV } from './aws-env.ts';
import { createLocalClients, type LocalClients } from './clients.ts';
import { type EmulatorOptions, type Emulators, type EmulatorTimings, startEmulators } from './emulators.ts';
import type { LambdaFunction } from './lambda-context.ts';
import { type S3Notifier, startNotifier } from './notifier.ts';
import {
  createResources,
  defaultResourceNames,
  type LocalResources,
  type QueuePair,
  type QueueSettings,
} from './resources.ts';
import { LocalRunner, type ScheduleHandle } from './runner.ts';
import { type StreamReader, startStreamReader } from './stream-reader.ts';

export interface LocalHandlers {
  router: LambdaFunction<SQSEvent>;
  /** The ops API (every route of lambdas/domain/ops/route-keys.ts). */
  ops: LambdaFunction<APIGatewayProxyEventV2>;
  /** One handler per vendor queue; `deadLetterUrl` is that vendor's DLQ (RELAY_DEAD_LETTER_URL on AWS). */
  forwarder: (vendorId: string, queue: { deadLetterUrl: string }) => LambdaFunction<SQSEvent>;
  poller: LambdaFunction<unknown>;
  callback: LambdaFunction<APIGatewayProxyEventV2>;
  /** Fed by the status table's stream (stream-reader.ts), as the deployed one by its event source mapping. */
  aggregator: LambdaFunction<DynamoDBStreamEvent>;
}

export interface FunctionTuning {
  functionTimeoutMs?: number;
  batchSize?: number;
  maxConcurrency?: number;
  maximumBatchingWindowMs?: number;
}

/**
 * Local defaults: the deployed stack's own settings (lib/settings.ts), so that what runs locally is what runs on
 * AWS. A forwarder's settings are per vendor (its plug-in's `infra`); tests override them where they must.
 */
export const LOCAL_DEFAULTS = {
  router: {
    functionTimeoutMs: SETTINGS.router.timeoutSeconds * 1000,
    batchSize: SETTINGS.router.batchSize,
    maxConcurrency: SETTINGS.router.maxConcurrency,
    maximumBatchingWindowMs: SETTINGS.router.batchingWindowSeconds * 1000,
  },
  poller: { functionTimeoutMs: SETTINGS.poller.timeoutSeconds * 1000 },
  callback: { functionTimeoutMs: SETTINGS.callback.timeoutSeconds * 1000 },
  ops: { functionTimeoutMs: 30_000 },
  pollEveryMs: SETTINGS.pollEverySeconds * 1000,
  ingestQueue: {
    visibilityTimeoutSeconds: visibilityTimeoutSeconds(
      SETTINGS.router.timeoutSeconds,
      SETTINGS.router.batchingWindowSeconds,
    ),
    maxReceiveCount: SETTINGS.ingestMaxReceiveCount,
  },
  callbackRouteKey: 'POST /callbacks/{vendor}/{token}',
  /** Name of the secret holding the callback signing key (random bytes: at each start in memory, once per data dir). */
  callbackKeySecret: 'factory-relay/callback-signing-key',
} as const;

/** A vendor's local forwarder mapping, from the same settings as its deployed one. */
export function forwarderTuning(vendor: string): Required<FunctionTuning> {
  const s = forwarderSettings(VENDORS[vendor]);
  return {
    functionTimeoutMs: s.timeoutSeconds * 1000,
    batchSize: s.batchSize,
    maxConcurrency: s.maxConcurrency,
    maximumBatchingWindowMs: s.batchingWindowSeconds * 1000,
  };
}

export interface LocalStackOptions {
  /**
   * The relay config, unless configFile is given. Loaded as `cdk synth` loads a file (`${VAR}` from the
   * handlers' environment, then validated against the registered plug-ins) and handed to the handlers as
   * RELAY_CONFIG_JSON, as the bundle carries it on AWS: the handlers only parse it.
   */
  config?: RelayConfig;
  /** Path of a YAML/JSON config file, loaded the same way (→ RELAY_CONFIG_JSON). */
  configFile?: string;
  /**
   * false: hand `config` to the handlers as it is, unvalidated (tests whose stub handlers use made-up vendor
   * ids). Default true.
   */
  validateConfig?: boolean;
  /** Vendor ids that get a queue + DLQ + forwarder. Default: the config's distinct `transmit_type`s. */
  vendors?: string[];
  /** Secrets to create: name (without prefix) → value. */
  secrets?: Record<string, string>;
  /** → RELAY_SECRET_PREFIX; secrets are created as `<prefix><name>`. */
  secretPrefix?: string;
  /** Replace handlers (tests); the others are imported from lambdas/handlers/. */
  handlers?: Partial<LocalHandlers>;
  /** Poller schedule period (default 60 000 ms). */
  pollEveryMs?: number;
  /** Send each S3 notification this many times (at-least-once delivery). Default 1. */
  notifierDuplicates?: number;
  /** HTTP API port on 127.0.0.1 (default ephemeral). */
  apiPort?: number;
  /** Route of the callback function (default `POST /callbacks/{vendor}/{token}`). */
  callbackRouteKey?: string;
  /** Resource name prefix (default `factory-relay`). */
  prefix?: string;
  router?: FunctionTuning;
  /** Every vendor's forwarder mapping (over its plug-in's settings). */
  forwarder?: FunctionTuning;
  /** One vendor's forwarder mapping, by vendor id (over `forwarder`). */
  forwarders?: Record<string, FunctionTuning>;
  /**
   * Vendors whose forwarder mapping does not start with the stack (their queue fills up): `startForwarder`
   * starts it. Tests and the bench use it to measure or batch deliveries already on the queue.
   */
  deferForwarders?: string[];
  poller?: { functionTimeoutMs?: number };
  callback?: { functionTimeoutMs?: number; integrationTimeoutMs?: number };
  queues?: { ingest?: QueueSettings; vendors?: QueueSettings };
  /** Versioning on the ingest bucket (default true; see s3-hooks.ts for what the shim does). */
  ingestVersioning?: boolean;
  /** The relay's JSON log file (→ RELAY_LOG_FILE): what the ops API's log stream reads. */
  logFile?: string;
  /** → RELAY_LOG_LEVEL. */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** More environment for the handlers. */
  env?: Record<string, string>;
  /** Refuse every non-loopback connection in this process while the stack runs (default true). */
  loopbackOnly?: boolean;
  /** Hosts the guard lets through besides loopback (a config's base_url hosts); see guardLoopback. */
  allowHosts?: readonly string[];
  /**
   * Keep the whole state (objects, queue messages, the status table, secrets, the callback signing key) in this
   * folder, so that a stop and a start on the same folder carry on where it was (data-dir.ts). Locked while the
   * stack runs: a second stack on it fails with DataDirInUseError. Default: in memory, gone on stop.
   */
  dataDir?: string;
  emulators?: EmulatorOptions;
}

export interface LocalStack {
  endpoints: LocalEndpoints;
  region: string;
  /** Every variable the stack set for the handlers. */
  env: Record<string, string>;
  clients: LocalClients & {
    dynamodb: NonNullable<LocalClients['dynamodb']>;
    ddb: NonNullable<LocalClients['ddb']>;
  };
  buckets: { ingest: string; results: string };
  /** Whether the ingest bucket is versioned (the shim; events carry versionId). */
  ingestVersioned: boolean;
  queues: { ingest: QueuePair; vendors: Record<string, QueuePair> };
  /** vendor id → queue URL (what RELAY_QUEUE_URLS holds). */
  queueUrls: Record<string, string>;
  tableName: string;
  apiUrl: string;
  /** The callback URL for a vendor and token (on the default route). */
  callbackUrl(vendor: string, token: string): string;
  runner: LocalRunner;
  /** Starts the forwarder mapping of a vendor named in `deferForwarders` (once). */
  startForwarder(vendor: string): void;
  notifier: S3Notifier;
  poller: ScheduleHandle;
  /** The status table's stream reader feeding the aggregator (`settled()`: the counters caught up). */
  aggregator: StreamReader;
  emulators: Emulators;
  /** Where the state is kept (absolute), or undefined: in memory. */
  dataDir: string | undefined;
  /** Resources found from an earlier run on the data dir, and settings updated on them (createResources). */
  resourceChanges: { existing: string[]; updated: string[] };
  timings: EmulatorTimings & { resourcesMs: number; stackMs: number };
  stop(): Promise<void>;
}

type LooseHandler = (event: never, context: Context) => unknown;

/** What a stack on a data dir remembers for its next start (`stack.json`). */
interface StackState {
  apiPort?: number;
}

function readStackState(path: string): StackState {
  try {
    const s = JSON.parse(readFileSync(path, 'utf8')) as StackState;
    return typeof s.apiPort === 'number' && Number.isInteger(s.apiPort) ? { apiPort: s.apiPort } : {};
  } catch {
    return {};
  }
}

function writeStackState(path: string, state: StackState): void {
  writeFileAtomic.sync(path, `${JSON.stringify(state, null, 2)}\n`);
}

/** The config's vendor ids (distinct transmit_type values), reading the file when only a file is given. */
export async function vendorsOf(
  config: RelayConfig | undefined,
  configFile: string | undefined,
): Promise<string[]> {
  let cfg = config;
  if (!cfg && configFile) cfg = parseYaml(await readFile(configFile, 'utf8')) as RelayConfig;
  const types = (cfg?.data_transmit ?? [])
    .map((t) => t.transmit_type)
    .filter((t) => typeof t === 'string' && t);
  return [...new Set(types)];
}

/**
 * The config the handlers get (RELAY_CONFIG_JSON): loaded and validated here, as `cdk synth` does before it
 * bakes the config into the bundles. Throws ConfigError (with every violation) for an invalid config.
 */
function handlerConfigJson(
  opts: Pick<LocalStackOptions, 'config' | 'configFile' | 'validateConfig'>,
  env: Record<string, string | undefined>,
): string | undefined {
  if (opts.configFile)
    return JSON.stringify(loadConfigFile(resolvePath(opts.configFile), VENDORS, env).config);
  if (!opts.config) return undefined;
  if (opts.validateConfig === false) return JSON.stringify(opts.config);
  const text = JSON.stringify(opts.config);
  return JSON.stringify(
    loadConfig(text, VENDORS, env, { formatHint: 'json', source: '(the local stack config)' }).config,
  );
}

async function loadHandlers(overrides: Partial<LocalHandlers>): Promise<LocalHandlers> {
  const router =
    overrides.router ?? ((await import('../lambdas/handlers/router.ts')).handler as LambdaFunction<SQSEvent>);
  let forwarder = overrides.forwarder;
  if (!forwarder) {
    const mod: {
      handler?: unknown;
      createForwarderHandler?: (vendorId: string, options: { deadLetterUrl: string }) => LooseHandler;
    } = await import('../lambdas/handlers/forwarder.ts');
    const create = mod.createForwarderHandler;
    if (typeof create !== 'function')
      throw new Error(
        'lambdas/handlers/forwarder.ts must export createForwarderHandler(vendorId) for the local stack',
      );
    forwarder = (vendorId, queue) => create(vendorId, queue) as unknown as LambdaFunction<SQSEvent>;
  }
  const poller =
    overrides.poller ?? ((await import('../lambdas/handlers/poller.ts')).handler as LambdaFunction<unknown>);
  const callback =
    overrides.callback ??
    ((await import('../lambdas/handlers/callback.ts')).handler as LambdaFunction<APIGatewayProxyEventV2>);
  const ops =
    overrides.ops ??
    ((await import('../lambdas/handlers/ops.ts')).handler as LambdaFunction<APIGatewayProxyEventV2>);
  const aggregator =
    overrides.aggregator ??
    ((await import('../lambdas/handlers/aggregator.ts')).handler as LambdaFunction<DynamoDBStreamEvent>);
  return { router, forwarder, poller, callback, ops, aggregator };
}

export async function startLocalStack(opts: LocalStackOptions = {}): Promise<LocalStack> {
  const t0 = Date.now();
  const cleanups: Array<() => unknown> = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch {
        // keep going: every resource must be released
      }
    }
    cleanups.length = 0;
  };

  try {
    if (opts.loopbackOnly !== false) cleanups.push(guardLoopback({ allowHosts: opts.allowHosts ?? [] }));
    const emulators = await startEmulators({
      ...opts.emulators,
      ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
    });
    cleanups.push(() => emulators.stop());
    const region = emulators.region;
    const endpoints: LocalEndpoints = {
      s3: emulators.s3Endpoint,
      sqs: emulators.sqsEndpoint,
      dynamodb: emulators.dynamodbEndpoint,
      secretsManager: emulators.secretsEndpoint,
    };
    const clients = createLocalClients(endpoints, region);
    cleanups.push(() => clients.destroy());
    if (!clients.dynamodb || !clients.ddb)
      throw new Error('startLocalStack needs DynamoDB Local (emulators.dynamodb)');

    const tRes = Date.now();
    const vendors = opts.vendors ?? (await vendorsOf(opts.config, opts.configFile));
    const secretPrefix = opts.secretPrefix ?? '';
    const resources: LocalResources = await createResources({
      clients,
      sqsEndpoint: endpoints.sqs,
      names: defaultResourceNames(opts.prefix),
      vendors,
      ingestQueue: { ...LOCAL_DEFAULTS.ingestQueue, ...opts.queues?.ingest },
      // The forwarder counts attempts itself and moves DEAD deliveries to the DLQ; redrive is only the
      // safety net, so it allows more receives than max_attempts (lib/settings.ts, as on AWS).
      vendorQueues: (vendor) => {
        const tuning = { ...forwarderTuning(vendor), ...opts.forwarder, ...opts.forwarders?.[vendor] };
        return {
          visibilityTimeoutSeconds: visibilityTimeoutSeconds(
            Math.ceil(tuning.functionTimeoutMs / 1000),
            Math.ceil(tuning.maximumBatchingWindowMs / 1000),
          ),
          maxReceiveCount: vendorMaxReceiveCount(opts.config?.relay?.max_attempts),
          ...opts.queues?.vendors,
        };
      },
      ingestVersioning: opts.ingestVersioning,
      table: true,
      secrets: Object.fromEntries(
        Object.entries(opts.secrets ?? {}).map(([k, v]) => [`${secretPrefix}${k}`, v]),
      ),
      // Generated once per data dir (each start in memory): callback URLs given out stay valid across restarts.
      secretsKept: { [LOCAL_DEFAULTS.callbackKeySecret]: randomBytes(48).toString('base64') },
    });
    const resourcesMs = Date.now() - tRes;

    const runner = new LocalRunner({ sqs: clients.sqs, region });
    const runnerCleanup = cleanups.push(() => runner.stop()) - 1;

    // The HTTP API first: its URL goes into the environment the handlers are imported with.
    let callbackHandler: LambdaFunction<APIGatewayProxyEventV2> | undefined;
    let apiUrl = '';
    let opsHandler: LambdaFunction<APIGatewayProxyEventV2> | undefined;
    const routeKey = opts.callbackRouteKey ?? LOCAL_DEFAULTS.callbackRouteKey;
    const saved = emulators.dataDir ? readStackState(emulators.dataDir.path('stack')) : {};
    const serveApi = (port: number | undefined) =>
      runner.serveHttpApi({
        port,
        integrationTimeoutMs: opts.callback?.integrationTimeoutMs,
        routes: [
          {
            routeKey,
            functionName: 'callback',
            functionTimeoutMs: opts.callback?.functionTimeoutMs ?? LOCAL_DEFAULTS.callback.functionTimeoutMs,
            handler: (event, context) => {
              if (!callbackHandler) throw new Error('callback handler not loaded yet');
              return callbackHandler(event, context);
            },
          },
          // The ops page (ui/): GET /ui/ serves it; it calls the ops API on this same server.
          ...localUiRoutes({
            apiUrl: () => apiUrl,
            s3: clients.s3,
            resultsBucket: resources.buckets.results,
          }),
          // The ops API: the same handler and route keys as the deployed stack (lib/constructs/ops-api.ts).
          // …and `$default` (as lib/constructs/ops-api.ts): what no route matched is answered in the envelope.
          ...[...OPS_ROUTE_KEYS, '$default'].map((opsRouteKey) => ({
            routeKey: opsRouteKey,
            functionName: 'ops',
            functionTimeoutMs: LOCAL_DEFAULTS.ops.functionTimeoutMs,
            handler: (event: APIGatewayProxyEventV2, context: Context) => {
              if (!opsHandler) throw new Error('ops handler not loaded yet');
              return opsHandler(event, context);
            },
          })),
        ],
      });
    // With a data dir, the HTTP API comes back on its earlier port when it is free: the callback URLs vendors
    // were given (RELAY_CALLBACK_BASE_URL + token) keep working after a restart.
    const api =
      opts.apiPort === undefined && saved.apiPort
        ? await serveApi(saved.apiPort).catch((err: unknown) => {
            if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
            return serveApi(undefined);
          })
        : await serveApi(opts.apiPort);
    apiUrl = api.url;
    if (emulators.dataDir)
      writeStackState(emulators.dataDir.path('stack'), { apiPort: Number(new URL(api.url).port) });

    const queueUrls = Object.fromEntries(
      Object.entries(resources.queues.vendors).map(([v, q]) => [v, q.url]),
    );
    const env: Record<string, string> = {
      ...buildAwsEnv(endpoints, region),
      [ENV.table]: resources.tableName!,
      [ENV.queueUrls]: JSON.stringify(queueUrls),
      [ENV.callbackBaseUrl]: api.url,
      [ENV.callbackKeySecret]: LOCAL_DEFAULTS.callbackKeySecret,
      [ENV.resultsBucket]: resources.buckets.results,
      [ENV.ingestBucket]: resources.buckets.ingest,
      [ENV.opsQueues]: JSON.stringify([
        { name: 'ingest', url: resources.queues.ingest.url, dlqUrl: resources.queues.ingest.dlq.url },
        ...Object.entries(resources.queues.vendors).map(([vendor, q]) => ({
          name: vendor,
          vendor,
          url: q.url,
          dlqUrl: q.dlq.url,
        })),
      ]),
      ...(opts.logFile ? { [ENV.logFile]: resolvePath(opts.logFile) } : {}),
      ...(opts.secretPrefix ? { [ENV.secretPrefix]: opts.secretPrefix } : {}),
      ...(opts.logLevel ? { [ENV.logLevel]: opts.logLevel } : {}),
      ...opts.env,
    };
    const unset: string[] = [...UNSET_ENV, ENV.vendor, ENV.configFile];
    const configJson = handlerConfigJson(opts, { ...process.env, ...env });
    if (configJson !== undefined) env[ENV.configJson] = configJson;
    else unset.push(ENV.configJson);
    // Restored after the runner has stopped (cleanups run in reverse order).
    cleanups.splice(runnerCleanup, 0, applyEnv(env, unset));

    const handlers = await loadHandlers(opts.handlers ?? {});
    callbackHandler = handlers.callback;
    opsHandler = handlers.ops;

    // The aggregator's stream reader first: it starts at the stream's end, before any handler writes.
    const aggregator = await startStreamReader({
      dynamodb: clients.dynamodb,
      endpoint: endpoints.dynamodb!,
      region,
      tableName: resources.tableName!,
      handler: handlers.aggregator,
      functionTimeoutMs: SETTINGS.aggregator.timeoutSeconds * 1000,
      batchSize: SETTINGS.aggregator.batchSize,
      onFailure: (f) =>
        console.error(`aggregator: gave up a batch of ${f.records} stream records: ${f.error}`),
    });
    cleanups.push(() => aggregator.stop());

    const routerTuning = { ...LOCAL_DEFAULTS.router, ...opts.router };
    runner.addSqsMapping({
      functionName: 'router',
      queueUrl: resources.queues.ingest.url,
      queueArn: resources.queues.ingest.arn,
      handler: handlers.router,
      reportBatchItemFailures: true,
      ...routerTuning,
    });
    const deferred = new Map<string, () => void>();
    for (const [vendor, queue] of Object.entries(resources.queues.vendors)) {
      const start = () =>
        runner.addSqsMapping({
          functionName: `forwarder-${vendor}`,
          queueUrl: queue.url,
          queueArn: queue.arn,
          handler: handlers.forwarder(vendor, { deadLetterUrl: queue.dlq.url }),
          reportBatchItemFailures: true,
          ...forwarderTuning(vendor),
          ...opts.forwarder,
          ...opts.forwarders?.[vendor],
        });
      if (opts.deferForwarders?.includes(vendor)) deferred.set(vendor, start);
      else start();
    }
    const startForwarder = (vendor: string) => {
      const start = deferred.get(vendor);
      if (!start) throw new Error(`the ${vendor} forwarder is not deferred, or was started already`);
      deferred.delete(vendor);
      start();
    };
    const poller = runner.addSchedule({
      name: 'poller',
      functionName: 'poller',
      everyMs: opts.pollEveryMs ?? LOCAL_DEFAULTS.pollEveryMs,
      functionTimeoutMs: opts.poller?.functionTimeoutMs ?? LOCAL_DEFAULTS.poller.functionTimeoutMs,
      handler: handlers.poller,
    });

    const notifier = await startNotifier({
      source: emulators.s3Events,
      sqs: clients.sqs,
      s3: clients.s3,
      region,
      duplicates: opts.notifierDuplicates,
      targets: [
        {
          bucket: resources.buckets.ingest,
          queueUrl: resources.queues.ingest.url,
          configurationId: 'ingest-object-created',
        },
      ],
    });
    cleanups.push(() => notifier.stop());

    let stopping: Promise<void> | undefined;
    return {
      endpoints,
      region,
      env,
      clients: clients as LocalStack['clients'],
      buckets: resources.buckets,
      ingestVersioned: resources.ingestVersioned,
      queues: resources.queues,
      queueUrls,
      tableName: resources.tableName!,
      apiUrl: api.url,
      callbackUrl: (vendor, token) =>
        `${api.url}/callbacks/${encodeURIComponent(vendor)}/${encodeURIComponent(token)}`,
      runner,
      startForwarder,
      notifier,
      poller,
      aggregator,
      emulators,
      dataDir: emulators.dataDir?.dir,
      resourceChanges: { existing: resources.existing, updated: resources.updated },
      timings: { ...emulators.timings, resourcesMs, stackMs: Date.now() - t0 },
      stop() {
        stopping ??= cleanup();
        return stopping;
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
