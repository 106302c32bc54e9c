/**
 * The composition root every handler shares: the config, the status table, S3 reads, SQS and the logger,
 * built once per cold start from the environment (lambdas/commons/env.ts). Tests and the local stack reach
 * the same code by setting the same environment (AWS_ENDPOINT_URL_* for the emulators).
 *
 * What only vendor-facing handlers need (the HTTP client, Secrets Manager, the results bucket) is in
 * vendor-runtime.ts, so that the router's bundle does not carry it.
 */
import { randomBytes } from 'node:crypto';
import { createDocumentClient, StatusTable } from '#adapters/dynamodb.ts';
import { createS3Client, S3Objects } from '#adapters/s3.ts';
import { Queues, SQSClient } from '#adapters/sqs.ts';
import { ENV, optionalEnv, requireEnv } from '#commons/env.ts';
import { errorMessage } from '#commons/errors.ts';
import { createLogger, type Logger } from '#commons/logger.ts';
import { readBakedConfig } from '#domain/config/baked.ts';
import { configHash, savedConfigApplies } from '#domain/config/precedence.ts';
import type { RelayConfig } from '#domain/config/types.ts';
import type { ConfigInUse, ConfigVersion } from '#domain/ops/types.ts';
import { VENDORS } from '#vendors/registry.ts';
import type { VendorPlugin } from '#vendors/types.ts';

export interface Runtime {
  /**
   * The config in use: the baked one (version 0) or the newest saved through the ops API when it was saved on
   * this deploy's baked config (refreshConfig; the rule: lambdas/domain/config/precedence.ts).
   */
  config: RelayConfig;
  configVersion: Omit<ConfigInUse, 'config' | 'bakedHash' | 'newestSaved'>;
  /** The config baked into this bundle at deploy, and its configHash (computed once per cold start). */
  baked: { config: RelayConfig; hash: string };
  /** The newest saved version seen, in use or not: a later read of an older one is a stale read, ignored. */
  newestSaved?: { version: number; baseHash?: string };
  vendors: Readonly<Record<string, VendorPlugin>>;
  table: StatusTable;
  objects: S3Objects;
  queues: Queues;
  sqs: SQSClient;
  log: Logger;
  /** Identifies this Lambda instance in delivery leases. */
  instanceId: string;
}

let cached: Runtime | undefined;

export function runtime(): Runtime {
  if (cached) return cached;
  const log = createLogger({ service: 'factory-relay' });
  // Validated at synth (or at the local stack's start): parsed here, never validated again.
  const config = readBakedConfig(requireEnv(ENV.configJson), Object.keys(VENDORS), ENV.configJson);
  const sqs = new SQSClient();
  cached = {
    config,
    configVersion: { version: 0 },
    baked: { config, hash: configHash(config) },
    vendors: VENDORS,
    table: new StatusTable(createDocumentClient(), requireEnv(ENV.table)),
    objects: new S3Objects(createS3Client()),
    queues: new Queues(sqs),
    sqs,
    log,
    instanceId: randomBytes(9).toString('base64url'),
  };
  return cached;
}

/** Sends a message to a queue (the dead-letter move), with the reason as a message attribute. */
export async function sendRaw(sqs: SQSClient, queueUrl: string, body: string, reason: string): Promise<void> {
  await sqs.call('SendMessage', {
    QueueUrl: queueUrl,
    MessageBody: body,
    // An attribute has SQS's character rules too: the reason may quote a key, so keep it printable ASCII.
    MessageAttributes: {
      reason: { DataType: 'String', StringValue: reason.replace(/[^\x20-\x7e]/g, '?').slice(0, 256) },
    },
  });
}

let lastConfigCheck = 0;

/** The config this process uses and what it knows of the saved versions (what `GET /v1/config` reports). */
export function configInUse(rt: Runtime): ConfigInUse {
  return {
    config: rt.config,
    ...rt.configVersion,
    bakedHash: rt.baked.hash,
    ...(rt.newestSaved ? { newestSaved: rt.newestSaved } : {}),
  };
}

/**
 * Chooses this process's config given the newest saved version (the ops API's save, or one found by
 * refreshConfig): that version when it was saved on this deploy's baked config, else the baked one
 * (lambdas/domain/config/precedence.ts). An older version than one seen before is a stale read: ignored.
 */
export function useConfig(rt: Runtime, newest: ConfigVersion): void {
  if (rt.newestSaved && newest.version <= rt.newestSaved.version) return;
  rt.newestSaved = { version: newest.version, ...(newest.baseHash ? { baseHash: newest.baseHash } : {}) };
  if (!savedConfigApplies(newest, rt.baked.hash)) {
    if (rt.configVersion.version !== 0) {
      rt.config = rt.baked.config;
      rt.configVersion = { version: 0 };
    }
    rt.log.info('newest saved config version is from another deploy; the baked config is in use', {
      version: newest.version,
      baseHash: newest.baseHash ?? null,
      bakedHash: rt.baked.hash,
    });
    return;
  }
  try {
    // Validated and interpolated by the ops API when it was saved: read as a baked config is.
    rt.config = readBakedConfig(
      newest.json,
      Object.keys(rt.vendors),
      `saved config version ${newest.version}`,
    );
    rt.configVersion = {
      version: newest.version,
      savedAt: newest.savedAt,
      by: newest.by,
      baseHash: rt.baked.hash,
    };
    rt.log.info('config version in use', { version: newest.version, by: newest.by });
  } catch (err) {
    // A version this build cannot read leaves the current one in use.
    rt.log.error('saved config version not usable; keeping the current one', {
      version: newest.version,
      error: errorMessage(err),
    });
  }
}

/**
 * Looks for a newer saved config version at most every RELAY_CONFIG_REFRESH_SECONDS (default 60): one small
 * query, so that a config saved through the ops API is in use everywhere within about a minute, no redeploy
 * (unless it was saved on another deploy's baked config: useConfig). Every handler calls it first.
 */
export async function refreshConfig(rt: Runtime = runtime(), now = Date.now()): Promise<void> {
  const every = Number(optionalEnv(ENV.configRefreshSeconds) ?? 60) * 1000;
  if (now - lastConfigCheck < every) return;
  lastConfigCheck = now;
  try {
    const latest = await rt.table.latestConfig(false);
    if (latest) useConfig(rt, latest);
  } catch (err) {
    rt.log.warn('could not look for a newer config; keeping the current one', { error: errorMessage(err) });
  }
}
