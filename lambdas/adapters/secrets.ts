/**
 * Secrets Manager adapter: vendor API keys by secret name, cached for a few minutes so that a rotated key is
 * picked up without a redeploy. The value may be the key itself or JSON `{ "apiKey": "..." }`.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

export class Secrets {
  private readonly cache = new Map<string, { value: string; until: number }>();

  constructor(
    private readonly client: SecretsManagerClient = new SecretsManagerClient({}),
    private readonly ttlMs = 5 * 60_000,
    private readonly prefix = '',
  ) {}

  async apiKey(name: string): Promise<string> {
    const hit = this.cache.get(name);
    if (hit && hit.until > Date.now()) return hit.value;
    const out = await this.client.send(new GetSecretValueCommand({ SecretId: `${this.prefix}${name}` }));
    const raw = out.SecretString ?? '';
    let value = raw;
    if (raw.trim().startsWith('{')) {
      const parsed = JSON.parse(raw) as Record<string, unknown>;
      const v = parsed.apiKey ?? parsed.api_key ?? parsed.key;
      if (typeof v !== 'string') throw new Error(`secret ${name} is JSON without an "apiKey" string`);
      value = v;
    }
    this.cache.set(name, { value, until: Date.now() + this.ttlMs });
    return value;
  }

  /** Forgets a cached key (after the vendor refused it, so the next try reads a rotated one). */
  forget(name: string): void {
    this.cache.delete(name);
  }
}
