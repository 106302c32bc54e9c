import { DEFAULT_PROJECT } from './assumptions.ts';

/** A configured API key: the full key as Instrumental displays it, or the key with an explicit project. */
export type ApiKeyConfig = string | { key: string; project?: string };

export interface KeyIdentity {
  /** The `<identifier>` part: how the simulator refers to a key (never the secret). */
  identifier: string;
  project: string;
}

interface ParsedKey {
  prefix: string[];
  identifier: string;
  secret: string;
}

const MARK = 'INST:V1:';

/** Splits `[project-slug:][key-name:]INST:V1:<identifier>:<secret>`; undefined when it is not that shape. */
export function parseKey(key: string): ParsedKey | undefined {
  const at = key.indexOf(MARK);
  if (at < 0) return undefined;
  if (at > 0 && key[at - 1] !== ':') return undefined;
  const prefix = at === 0 ? [] : key.slice(0, at - 1).split(':');
  const rest = key.slice(at + MARK.length);
  const colon = rest.indexOf(':');
  if (colon <= 0 || colon === rest.length - 1) return undefined;
  return { prefix, identifier: rest.slice(0, colon), secret: rest.slice(colon + 1) };
}

/** The keys a simulator accepts, each with its project; answers the identity of a presented key or a reason. */
export class KeyRing {
  private readonly byCore = new Map<string, KeyIdentity>();

  constructor(keys: readonly ApiKeyConfig[]) {
    for (const k of keys) this.add(k);
  }

  add(config: ApiKeyConfig): KeyIdentity {
    const key = typeof config === 'string' ? config : config.key;
    const parsed = parseKey(key);
    if (!parsed)
      throw new Error(
        'InstrumentalSimulator: a configured API key must contain INST:V1:<identifier>:<secret>',
      );
    const explicit = typeof config === 'string' ? undefined : config.project;
    const project = explicit ?? parsed.prefix[0] ?? DEFAULT_PROJECT;
    const identity = { identifier: parsed.identifier, project };
    this.byCore.set(`${parsed.identifier}:${parsed.secret}`, identity);
    return identity;
  }

  /** Checks a presented `instrumental-api-key` header. */
  check(
    header: string | string[] | undefined,
  ): { ok: true; identity: KeyIdentity } | { ok: false; reason: string } {
    if (header === undefined || header === '')
      return { ok: false, reason: 'missing instrumental-api-key header' };
    if (Array.isArray(header)) return { ok: false, reason: 'more than one instrumental-api-key header' };
    const parsed = parseKey(header.trim());
    if (!parsed) return { ok: false, reason: 'key does not contain INST:V1:<identifier>:<secret>' };
    const identity = this.byCore.get(`${parsed.identifier}:${parsed.secret}`);
    if (!identity) return { ok: false, reason: 'unknown key' };
    // Two or more prefix segments: the first is the project slug and must match. One segment may be the slug
    // or a free-text key name (assumptions.ts SINGLE_PREFIX_MAY_BE_KEY_NAME).
    if (parsed.prefix.length >= 2 && parsed.prefix[0] !== identity.project) {
      return { ok: false, reason: 'project slug does not match the key' };
    }
    return { ok: true, identity };
  }

  get size(): number {
    return this.byCore.size;
  }
}
