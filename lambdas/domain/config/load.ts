/**
 * Loading the relay config: text (YAML or JSON) → tree → `${VAR}` interpolation → validation. For `cdk synth`,
 * `relay validate` and the local stack; no Lambda imports this (they read the validated config as JSON:
 * baked.ts). The only I/O here is reading a config file.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { VendorCatalog } from '#vendors/registry.ts';
import type { JsonPath } from './template.ts';
import type { RelayConfig, Violation } from './types.ts';
import { formatJsonPath, validateConfig } from './validate.ts';

export type ConfigFormat = 'yaml' | 'json';

export interface LoadedConfig {
  config: RelayConfig;
  /** Warnings (a loaded config has no errors). */
  violations: Violation[];
  /** The config text as read. */
  text: string;
}

/** A config that cannot be used. `violations` holds every finding (errors and warnings). */
export class ConfigError extends Error {
  constructor(
    readonly violations: Violation[],
    readonly source?: string,
  ) {
    const errors = violations.filter((v) => v.level === 'error');
    super(`invalid relay config${source ? ` ${source}` : ''}:\n${formatViolations(errors)}`);
    this.name = 'ConfigError';
  }
}

/** One line per violation: `error  data_transmit[0].base_url  must be an http(s) URL…`. */
export function formatViolations(violations: readonly Violation[]): string {
  return violations.map((v) => `${v.level}  ${formatJsonPath(v.json_path)}  ${v.description}`).join('\n');
}

/**
 * Parses config text. YAML 1.2 (JSON is YAML too); with `formatHint: 'json'` strict JSON. Throws ConfigError
 * on a syntax error, duplicate keys or an empty document.
 */
export function parseConfigText(text: string, formatHint?: ConfigFormat): unknown {
  const fail = (description: string): never => {
    throw new ConfigError([{ description, json_path: [], level: 'error' }]);
  };
  if (formatHint === 'json') {
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      return fail(`not valid JSON: ${(e as Error).message}`);
    }
  }
  const doc = parseDocument(text, { uniqueKeys: true, merge: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => ({
        description: `YAML: ${(e.message.split('\n')[0] ?? '').replace(/:$/, '')}`,
        json_path: [],
        level: 'error' as const,
      })),
    );
  }
  const value = doc.toJS({ maxAliasCount: 1000 }) as unknown;
  if (value === null || value === undefined) fail('the config is empty');
  return value;
}

const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Replaces `${VAR}` and `${VAR:-default}` (default when VAR is unset or empty) in every string value of the
 * tree (not in keys); `$${` is a literal `${`. Values stay strings. An unset VAR without a default, or a
 * malformed reference, is an error violation at the value's json_path (the reference is left as written).
 */
export function interpolateEnv(
  tree: unknown,
  env: Record<string, string | undefined> = process.env,
): { value: unknown; violations: Violation[] } {
  const violations: Violation[] = [];
  const walk = (node: unknown, path: JsonPath): unknown => {
    if (typeof node === 'string') return interpolateString(node, env, path, violations);
    if (Array.isArray(node)) return node.map((v, i) => walk(v, [...path, i]));
    if (node !== null && typeof node === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(node)) out[k] = walk(v, [...path, k]);
      return out;
    }
    return node;
  };
  return { value: walk(tree, []), violations };
}

function interpolateString(
  s: string,
  env: Record<string, string | undefined>,
  path: JsonPath,
  violations: Violation[],
): string {
  if (!s.includes('${')) return s;
  let out = '';
  let i = 0;
  while (i < s.length) {
    if (s.startsWith('$${', i)) {
      out += '${';
      i += 3;
      continue;
    }
    if (!s.startsWith('${', i)) {
      out += s[i];
      i++;
      continue;
    }
    const close = s.indexOf('}', i + 2);
    if (close < 0) {
      violations.push({ description: `unclosed "\${" in "${s}"`, json_path: path, level: 'error' });
      return s;
    }
    const inner = s.slice(i + 2, close);
    const sep = inner.indexOf(':-');
    const name = sep < 0 ? inner : inner.slice(0, sep);
    const fallback = sep < 0 ? undefined : inner.slice(sep + 2);
    if (!VAR_NAME.test(name)) {
      violations.push({
        description: `"\${${inner}}" is not a valid reference: use \${NAME} or \${NAME:-default} ($\${ for a literal)`,
        json_path: path,
        level: 'error',
      });
      return s;
    }
    const value = env[name];
    if (fallback !== undefined && (value === undefined || value === '')) out += fallback;
    else if (value === undefined) {
      violations.push({
        description: `environment variable ${name} is not set (write \${${name}:-default} to give a default)`,
        json_path: path,
        level: 'error',
      });
      return s;
    } else out += value;
    i = close + 1;
  }
  return out;
}

export interface LoadOptions {
  formatHint?: ConfigFormat;
  /** Where the text came from (a file path), for error messages. */
  source?: string;
}

/** Parses, interpolates and validates config text. Throws ConfigError when there is any error. */
export function loadConfig(
  text: string,
  catalog: VendorCatalog,
  env: Record<string, string | undefined> = process.env,
  options: LoadOptions = {},
): LoadedConfig {
  let tree: unknown;
  try {
    tree = parseConfigText(text, options.formatHint);
  } catch (e) {
    if (e instanceof ConfigError && options.source) throw new ConfigError(e.violations, options.source);
    throw e;
  }
  const interpolated = interpolateEnv(tree, env);
  if (interpolated.violations.length > 0) throw new ConfigError(interpolated.violations, options.source);
  const result = validateConfig(interpolated.value, catalog);
  if (!result.ok || !result.config) throw new ConfigError(result.violations, options.source);
  return { config: result.config, violations: result.violations, text };
}

/** Reads and loads a config file (`.json` is parsed as JSON, anything else as YAML). */
export function loadConfigFile(
  path: string,
  catalog: VendorCatalog,
  env: Record<string, string | undefined> = process.env,
): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(
      [
        {
          description: `cannot read the config file: ${(e as Error).message}`,
          json_path: [],
          level: 'error',
        },
      ],
      path,
    );
  }
  const formatHint: ConfigFormat = path.toLowerCase().endsWith('.json') ? 'json' : 'yaml';
  const loaded = loadConfig(text, catalog, env, { formatHint, source: path });
  return { ...loaded, config: inlineConfigFiles(loaded.config, catalog, dirname(resolve(path)), path) };
}

/**
 * Files a destination's options name beside the config (a background image): read relative to the config
 * file's folder and inlined by the vendor's plug-in, so that the config carries them wherever it runs (CDK
 * bakes the loaded config into each bundle). A file that cannot be read is an error violation.
 */
function inlineConfigFiles(
  config: RelayConfig,
  catalog: VendorCatalog,
  baseDir: string,
  source: string,
): RelayConfig {
  const violations: Violation[] = [];
  const transmits = config.data_transmit.map((t, i) => {
    const plugin = Object.hasOwn(catalog, t.transmit_type) ? catalog[t.transmit_type] : undefined;
    if (!plugin?.inlineConfigFiles || !t.options) return t;
    const read = (p: string) => readFileSync(isAbsolute(p) ? p : resolve(baseDir, p));
    const { options, errors } = plugin.inlineConfigFiles(t.options, read);
    for (const e of errors)
      violations.push({
        description: e.description,
        json_path: ['data_transmit', i, 'options', ...e.path],
        level: 'error',
      });
    return { ...t, options };
  });
  if (violations.length > 0) throw new ConfigError(violations, source);
  return { ...config, data_transmit: transmits };
}
