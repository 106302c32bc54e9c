/**
 * Builds the VendorContext a plug-in works with: its destination, credentials, the shared rate limit, object
 * access and checkpoints. The same for the forwarder, the poller and the callback handler.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import type { Logger } from '#commons/logger.ts';
import type { DataTransmit } from '#domain/config/types.ts';
import type {
  Destination,
  JsonObject,
  ObjectSource,
  ResultSink,
  VendorContext,
  VendorPlugin,
} from '#vendors/types.ts';
import { decodeDeliveryId, encodeDeliveryId } from './delivery.ts';
import type { RateLimit } from './rate-limit.ts';

export interface VendorRuntime {
  http: Dispatcher;
  objects: ObjectSource;
  results: ResultSink;
  apiKey(secretName: string): Promise<string>;
  takeToken(bucketId: string, limit: RateLimit): Promise<{ ok: true } | { ok: false; retryInMs: number }>;
  saveCheckpoint(deliveryId: string, data: JsonObject): Promise<void>;
  callbackBaseUrl?: string;
  log: Logger;
}

export class RateLimitTimeout extends Error {
  constructor(readonly bucket: string) {
    super(`no rate-limit token for ${bucket} before the invocation deadline`);
    this.name = 'RateLimitTimeout';
  }
}

export class MissingCredentialsError extends Error {
  constructor(destination: string) {
    super(`destination ${destination} has no api_key_secret`);
    this.name = 'MissingCredentialsError';
  }
}

export function toDestination(t: DataTransmit): Destination {
  const d: Destination = {
    name: t.transmit_name,
    vendor: t.transmit_type,
    baseUrl: t.base_url,
    options: t.options ?? {},
  };
  if (t.api_key_secret) d.apiKeySecret = t.api_key_secret;
  return d;
}

/**
 * The vendor limits requests per API key, so the relay's shared bucket is per key too: identified by a
 * fingerprint of the key itself (never the key), so that two secrets or destinations holding one key share
 * one bucket, and a rotated key starts a fresh one. Destinations without a key share one per destination.
 */
export function rateLimitOf(t: DataTransmit, plugin: VendorPlugin): RateLimit | undefined {
  return t.rate_limit ? { burst: t.rate_limit.burst, perSecond: t.rate_limit.per_second } : plugin.rateLimit;
}

export function rateLimitBucketId(
  plugin: VendorPlugin,
  apiKey: string | undefined,
  destination: string,
): string {
  if (apiKey === undefined) return `${plugin.id}:destination:${destination}`;
  return `${plugin.id}:key:${createHash('sha256').update(apiKey).digest('hex').slice(0, 24)}`;
}

export function createVendorContext(
  transmit: DataTransmit,
  plugin: VendorPlugin,
  rt: VendorRuntime,
  signal: AbortSignal,
): VendorContext {
  const destination = toDestination(transmit);
  const limit = rateLimitOf(transmit, plugin);
  return {
    destination,
    http: rt.http,
    objects: rt.objects,
    results: rt.results,
    apiKey: () => {
      if (!transmit.api_key_secret)
        return Promise.reject(new MissingCredentialsError(transmit.transmit_name));
      return rt.apiKey(transmit.api_key_secret);
    },
    async throttle() {
      if (!limit) return;
      const key = transmit.api_key_secret ? await rt.apiKey(transmit.api_key_secret) : undefined;
      const bucketId = rateLimitBucketId(plugin, key, transmit.transmit_name);
      for (;;) {
        if (signal.aborted) throw new RateLimitTimeout(bucketId);
        const t = await rt.takeToken(bucketId, limit);
        if (t.ok) return;
        await sleep(Math.min(t.retryInMs, 1000), undefined, { signal }).catch(() => undefined);
      }
    },
    checkpoint: (deliveryId, data) => rt.saveCheckpoint(deliveryId, data),
    callbackUrl: (deliveryId) => {
      if (!rt.callbackBaseUrl) return undefined;
      const key = decodeDeliveryId(deliveryId);
      if (!key) return undefined;
      return `${rt.callbackBaseUrl.replace(/\/$/, '')}/callbacks/${plugin.id}/${encodeDeliveryId(key)}`;
    },
    signal,
    log: rt.log.child({ destination: destination.name, vendor: plugin.id }),
  };
}
