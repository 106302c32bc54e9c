/**
 * Where each destination of a config goes when `npm start` runs it, and with which API key.
 *
 * - A destination whose `base_url` is one of the running local simulators' URLs uses that simulator, with the
 *   simulator's fake demo key (the only key it accepts).
 * - Any other `base_url` is used as the config says. Its key comes from the environment
 *   (`RELAY_SECRET_<NAME>`, see secretEnvName) or from a local secrets file (`.relay/secrets.json`, a JSON
 *   object secret name → value, git-ignored); the environment wins. The loopback guard lets exactly these
 *   base_url hosts through.
 */
import { readFileSync } from 'node:fs';
import type { DataTransmit, RelayConfig } from '#domain/config/types.ts';
import { isLoopbackHost, normalizeHost } from '../aws-env.ts';
import type { RunningSimulator } from './simulators.ts';

export const SECRET_ENV_PREFIX = 'RELAY_SECRET_';

export interface DestinationPlan {
  transmit: DataTransmit;
  /** Its index in data_transmit (for json paths). */
  index: number;
  /** The local simulator its base_url names; undefined when the base_url is used as the config says. */
  simulator?: RunningSimulator;
  /** The base_url's host name, lower case. */
  host: string;
}

/** `http://localhost:4810/` and `http://127.0.0.1:4810` are the same place. */
function comparable(url: string): string | undefined {
  try {
    const u = new URL(url);
    const host = normalizeHost(u.hostname);
    const local = host === 'localhost' || host === '::1' ? '127.0.0.1' : host;
    return `${u.protocol}//${local}:${u.port || (u.protocol === 'https:' ? '443' : '80')}${u.pathname.replace(/\/+$/, '')}`;
  } catch {
    return undefined;
  }
}

export function planDestinations(config: RelayConfig, sims: readonly RunningSimulator[]): DestinationPlan[] {
  return config.data_transmit.map((transmit, index) => {
    const key = comparable(transmit.base_url);
    const simulator = key === undefined ? undefined : sims.find((s) => comparable(s.url) === key);
    let host = '';
    try {
      host = normalizeHost(new URL(transmit.base_url).hostname);
    } catch {
      // validation refuses such a config before this runs
    }
    return { transmit, index, ...(simulator ? { simulator } : {}), host };
  });
}

/** The config's base_url hosts that are not loopback: what the loopback guard lets through besides it. */
export function destinationHosts(plans: readonly DestinationPlan[]): string[] {
  return [...new Set(plans.map((p) => p.host).filter((h) => h && !isLoopbackHost(h)))].sort();
}

/** `factory-relay/instrumental-main` → `RELAY_SECRET_FACTORY_RELAY_INSTRUMENTAL_MAIN`. */
export function secretEnvName(secretName: string): string {
  return `${SECRET_ENV_PREFIX}${secretName
    .toUpperCase()
    .replace(/[^A-Z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')}`;
}

/** Reads a secrets file (a JSON object of name → string). Absent file: {}. Throws a readable Error otherwise. */
export function readSecretsFile(path: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new Error(`cannot read the secrets file ${path}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`the secrets file ${path} is not JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new Error(`the secrets file ${path} must be a JSON object: {"<secret name>": "<value>", …}`);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(parsed)) {
    if (typeof value !== 'string' || value === '')
      throw new Error(`the secrets file ${path}: "${name}" must be a non-empty string`);
    out[name] = value;
  }
  return out;
}

export type SecretSource = 'simulator' | 'environment' | 'secrets file';

export interface ResolvedSecrets {
  /** Secret name → value, for the local Secrets Manager. */
  values: Record<string, string>;
  /** Secret name → where its value came from (never the value). */
  sources: Record<string, SecretSource>;
  /** What stops the start: a secret with no value, or one name used for a simulator and a real vendor. */
  problems: string[];
}

/** The value of every secret the config's enabled destinations name. */
export function resolveSecrets(
  plans: readonly DestinationPlan[],
  env: Record<string, string | undefined>,
  file: Record<string, string>,
  filePath: string,
): ResolvedSecrets {
  const values: Record<string, string> = {};
  const sources: Record<string, SecretSource> = {};
  const problems: string[] = [];
  for (const p of plans) {
    const name = p.transmit.api_key_secret;
    if (!name || p.transmit.enabled === false) continue;
    const where = `data_transmit[${p.index}] ${p.transmit.transmit_name}`;
    if (p.simulator) {
      if (sources[name] && sources[name] !== 'simulator') {
        problems.push(
          `${where}: secret "${name}" also names a real vendor's key; give the simulator destination its own api_key_secret`,
        );
      }
      values[name] = p.simulator.apiKey;
      sources[name] = 'simulator';
      continue;
    }
    if (sources[name] === 'simulator') {
      problems.push(
        `${where}: secret "${name}" is also a simulator destination's; give it its own api_key_secret`,
      );
      continue;
    }
    const envName = secretEnvName(name);
    const fromEnv = env[envName];
    if (fromEnv) {
      values[name] = fromEnv;
      sources[name] = 'environment';
    } else if (file[name]) {
      values[name] = file[name];
      sources[name] = 'secrets file';
    } else {
      problems.push(
        `${where} → ${p.transmit.base_url}: no value for secret "${name}"; set ${envName} or add "${name}" to ${filePath}`,
      );
    }
  }
  return { values, sources, problems };
}

/**
 * A base_url on a simulator's usual port (4810…) while that simulator had to take another one: the config
 * reaches whatever holds the port now, not the simulator.
 */
export function movedSimulatorWarnings(
  plans: readonly DestinationPlan[],
  sims: readonly RunningSimulator[],
): string[] {
  const out: string[] = [];
  for (const p of plans) {
    if (p.simulator) continue;
    let port: number;
    try {
      port = Number(new URL(p.transmit.base_url).port);
    } catch {
      continue;
    }
    const sim = sims.find(
      (s) => s.preferredPort === port && s.preferredPort > 0 && !s.url.endsWith(`:${port}`),
    );
    if (sim && (p.host === 'localhost' || p.host === '127.0.0.1')) {
      out.push(
        `${p.transmit.transmit_name}: ${p.transmit.base_url} is where the ${sim.name} simulator usually listens, but port ${port} was taken; it runs on ${sim.url} now`,
      );
    }
  }
  return out;
}
