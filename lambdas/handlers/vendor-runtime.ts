/**
 * What the vendor-facing handlers (forwarder, poller, callback) add to the shared runtime: the HTTP client,
 * API keys from Secrets Manager, the shared rate limit and the results bucket.
 */
import { AwsTransport } from '#adapters/aws/transport.ts';
import { createHttpAgent } from '#adapters/http.ts';
import { createS3Client, S3Results } from '#adapters/s3.ts';
import { Secrets } from '#adapters/secrets.ts';
import { ENV, optionalEnv } from '#commons/env.ts';
import { signingKeyFrom } from '#domain/callback-token.ts';
import { decodeDeliveryId } from '#domain/delivery.ts';
import type { VendorRuntime } from '#domain/vendor-context.ts';
import { type Runtime, runtime } from './runtime.ts';

export interface VendorSide {
  rt: Runtime;
  secrets: Secrets;
  vendorRuntime: VendorRuntime;
}

let cached: VendorSide | undefined;

export function vendorSide(): VendorSide {
  if (cached) return cached;
  const rt = runtime();
  const resultsBucket = optionalEnv(ENV.resultsBucket);
  const results = new S3Results(
    createS3Client(),
    resultsBucket ?? '',
    rt.config.relay?.results_prefix ?? 'results/',
  );
  const sm = new AwsTransport('secretsmanager');
  const secrets = new Secrets(sm, 5 * 60_000, optionalEnv(ENV.secretPrefix) ?? '');
  // The relay's own secret (the callback signing key) is named by the stack, without the vendor keys' prefix.
  const relaySecrets = new Secrets(sm, 5 * 60_000);
  const callbackBaseUrl = optionalEnv(ENV.callbackBaseUrl);
  const callbackKeySecret = optionalEnv(ENV.callbackKeySecret);
  const vendorRuntime: VendorRuntime = {
    http: createHttpAgent(),
    objects: rt.objects,
    results: {
      put: (input) => {
        if (!resultsBucket)
          return Promise.reject(new Error(`${ENV.resultsBucket} is not set: nowhere to write results`));
        return results.put(input);
      },
    },
    apiKey: (name, options) => secrets.apiKey(name, options),
    takeToken: (id, limit, n) => rt.table.takeToken(id, limit, n),
    saveCheckpoint: async (deliveryId, data) => {
      const key = decodeDeliveryId(deliveryId);
      if (key) await rt.table.saveCheckpoint(key, rt.instanceId, data);
    },
    claimStep: async (deliveryId, step, forMs) => {
      const key = decodeDeliveryId(deliveryId);
      return key ? rt.table.claimStep(key, step, forMs) : false;
    },
    releaseStep: async (deliveryId, step) => {
      const key = decodeDeliveryId(deliveryId);
      if (key) await rt.table.releaseStep(key, step);
    },
    cache: {
      get: (destination, key) => rt.table.cacheGet(destination, key),
      put: (destination, key, value, ttl) => rt.table.cachePut(destination, key, value, ttl),
      delete: (destination, key) => rt.table.cacheDelete(destination, key),
    },
    log: rt.log,
    ...(callbackBaseUrl ? { callbackBaseUrl } : {}),
    ...(callbackKeySecret
      ? { callbackSigningKey: async () => signingKeyFrom(await relaySecrets.text(callbackKeySecret)) }
      : {}),
  };
  cached = { rt, secrets, vendorRuntime };
  return cached;
}
