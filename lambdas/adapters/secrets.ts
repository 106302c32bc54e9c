/**
 * Secrets Manager adapter: vendor API keys by secret name, cached for a few minutes so that a rotated key is
 * picked up without a redeploy. The value may be the key itself or JSON `{ "apiKey": "..." }`.
 *
 * A secret that does not exist, cannot be read, or holds no key is a CredentialsError (the destination is
 * held, no attempt is spent); anything else (throttling, the network) is thrown as it is, to be retried. Only
 * values that were read successfully are cached, and `fresh` skips the cache (a paused destination's probe
 * must see a fixed secret at once).
 */
import { CredentialsError } from '#commons/errors.ts';
import { AwsTransport } from './aws/transport.ts';

const MISSING = new Set(['ResourceNotFoundException']);
const UNREADABLE = new Set([
  'AccessDeniedException',
  'DecryptionFailure',
  'InvalidRequestException',
  'KMSAccessDeniedException',
  'KMSDisabledException',
  'KMSInvalidStateException',
  'KMSNotFoundException',
]);

export class Secrets {
  private readonly cache = new Map<string, { value: string; until: number }>();

  constructor(
    private readonly client: AwsTransport = new AwsTransport('secretsmanager'),
    private readonly ttlMs = 5 * 60_000,
    private readonly prefix = '',
    private readonly now: () => number = Date.now,
  ) {}

  /** The secret's text as stored (no parsing). */
  async text(name: string, options: { fresh?: boolean } = {}): Promise<string> {
    const hit = this.cache.get(name);
    if (!options.fresh && hit && hit.until > this.now()) return hit.value;
    let out: { SecretString?: string; SecretBinary?: string };
    try {
      out = await this.client.json('secretsmanager.GetSecretValue', '1.1', {
        SecretId: `${this.prefix}${name}`,
      });
    } catch (err) {
      const errName = (err as { name?: string }).name ?? '';
      if (MISSING.has(errName))
        throw new CredentialsError('CREDENTIALS_MISSING', `secret ${name} does not exist`);
      if (UNREADABLE.has(errName))
        throw new CredentialsError('CREDENTIALS_UNREADABLE', `secret ${name} cannot be read (${errName})`);
      throw err;
    }
    if (out.SecretString === undefined) {
      throw new CredentialsError(
        out.SecretBinary ? 'CREDENTIALS_MALFORMED' : 'CREDENTIALS_MISSING',
        out.SecretBinary ? `secret ${name} is binary, not text` : `secret ${name} has no value`,
      );
    }
    this.cache.set(name, { value: out.SecretString, until: this.now() + this.ttlMs });
    return out.SecretString;
  }

  /** The API key a secret holds: its text, or the `apiKey` (`api_key`, `key`) string of a JSON object. */
  async apiKey(name: string, options: { fresh?: boolean } = {}): Promise<string> {
    const raw = await this.text(name, options);
    if (!raw.trim().startsWith('{')) return raw;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new CredentialsError('CREDENTIALS_MALFORMED', `secret ${name} starts like JSON but is not JSON`);
    }
    const obj = parsed as Record<string, unknown>;
    const v = obj.apiKey ?? obj.api_key ?? obj.key;
    if (typeof v !== 'string')
      throw new CredentialsError(
        'CREDENTIALS_MALFORMED',
        `secret ${name} is JSON without an "apiKey" string`,
      );
    return v;
  }

  /** Forgets a cached value (after the vendor refused it, so the next try reads a rotated one). */
  forget(name: string): void {
    this.cache.delete(name);
  }
}
