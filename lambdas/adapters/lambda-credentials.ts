/**
 * What a Lambda bundle gets instead of `@aws-sdk/credential-provider-node` (an esbuild alias, lib/bundling.ts):
 * the credentials the Lambda runtime puts in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN), read by the SDK's own `fromEnv`.
 *
 * Why: the default chain also brings SSO, INI profiles, credential processes, web identity, container and IMDS
 * providers and the STS/SSO clients they use (about 90 KiB minified per bundle, parsed at every cold start),
 * none of which a Lambda function uses. Tests and the local stack run from source, with the full chain (they
 * also set those variables). The signature is the chain's: each client calls it with its own config.
 */
import { fromEnv } from '@aws-sdk/credential-provider-env';

export function defaultProvider(init: Parameters<typeof fromEnv>[0] = {}): ReturnType<typeof fromEnv> {
  return fromEnv(init);
}
