/**
 * `GET /v1/config`, `POST /v1/config/validate`, `GET /v1/config/templates[/{type}]`, `POST /v1/config`,
 * `GET /v1/config/versions` (FactoryTX's config routes). A saved config is validated exactly as a deployed one
 * (lambdas/domain/config), then stored as the next version in the status table (a conditional put: two saves
 * cannot both become version N) with the hash of the deploy's baked config it was saved on (`baseHash`); every
 * Lambda reads the latest version at most a minute later (handlers/runtime.ts) and uses it only while that is
 * still the baked config (domain/config/precedence.ts: a deploy that changes the config wins). An invalid
 * config is refused with its violations and nothing is stored.
 *
 * `${VAR}` is never filled here: the API reads no environment for it (the Lambda's own holds its AWS
 * credentials), so a reference left in a posted config is an error. `relay config validate|save` fills them from
 * the operator's environment before posting.
 */
import { ConfigError, loadConfig } from '#domain/config/index.ts';
import type { RelayConfig, Violation } from '#domain/config/types.ts';
import type { JsonSchema, JsonValue } from '#vendors/types.ts';
import { answered, invalid, notFound, OpsError, type OpsResult, ok } from './envelope.ts';
import { limitOf } from './params.ts';
import type { OpsDeps, OpsRequest } from './types.ts';

/** The config text of a request: JSON as sent, or YAML text (`content-type: text/yaml` or not JSON). */
function configText(req: OpsRequest): { text: string; json: boolean } {
  const text = req.body ?? '';
  if (text.trim() === '')
    throw invalid('send the config as the body (JSON, or YAML with content-type text/yaml)');
  const json = !/yaml/i.test(req.contentType ?? '') && /^\s*[{[]/.test(text);
  return { text, json };
}

/** The API's environment for `${VAR}`: none. A default (`${VAR:-x}`) still applies. */
const NO_ENV: Readonly<Record<string, string | undefined>> = Object.freeze({});

/** The loader's "not set" violation, said as what it is here: a reference nobody filled. */
function unfilled(v: Violation): Violation {
  const m = /^environment variable (\S+) is not set/.exec(v.description);
  if (!m) return v;
  return {
    ...v,
    description: `\${${m[1]}} is not filled: the ops API never reads its own environment; fill it before posting (relay config validate|save fills it from yours)`,
  };
}

/** Validates config text as every Lambda would load it; plus what this deployment can run. */
export function checkConfig(
  text: string,
  json: boolean,
  deps: OpsDeps,
): { ok: boolean; config?: RelayConfig; violations: Violation[] } {
  try {
    const loaded = loadConfig(text, deps.vendors, NO_ENV, { formatHint: json ? 'json' : 'yaml' });
    const deployed = new Set(deps.vendorQueues.map((q) => q.vendor ?? q.name));
    const extra: Violation[] = loaded.config.data_transmit.flatMap((t, i) =>
      deployed.has(t.transmit_type)
        ? []
        : [
            {
              description: `transmit_type ${t.transmit_type} has no queue and forwarder in this deployment: deploy with it first (cdk deploy)`,
              json_path: ['data_transmit', i, 'transmit_type'],
              level: 'error' as const,
            },
          ],
    );
    const violations = [...extra, ...loaded.violations];
    return extra.length ? { ok: false, violations } : { ok: true, config: loaded.config, violations };
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false, violations: err.violations.map(unfilled) };
    throw err;
  }
}

export async function getConfig(_req: OpsRequest, deps: OpsDeps): Promise<OpsResult> {
  const c = deps.config();
  // Saved versions exist, but the newest was saved on another deploy's baked config: this deploy's is in use.
  const superseded = c.version === 0 && c.newestSaved !== undefined;
  return ok({
    version: c.version,
    source: c.version === 0 ? 'baked' : 'store',
    ...(c.savedAt ? { savedAt: c.savedAt } : {}),
    ...(c.by ? { by: c.by } : {}),
    bakedHash: c.bakedHash,
    ...(c.baseHash ? { baseHash: c.baseHash } : {}),
    supersededByDeploy: superseded,
    ...(superseded && c.newestSaved
      ? {
          latestSavedVersion: c.newestSaved.version,
          note: `saved version ${c.newestSaved.version} was saved on ${c.newestSaved.baseHash ? 'another deploy' : 'a deploy that recorded no baseHash'}: the config baked in at this deploy is in use; {"rollback": ${c.newestSaved.version}} saves it again on top of this one`,
        }
      : {}),
    config: c.config,
  });
}

export async function validateConfigRoute(req: OpsRequest, deps: OpsDeps): Promise<OpsResult> {
  const { text, json } = configText(req);
  const r = checkConfig(text, json, deps);
  return answered({ status: r.ok ? 'passed' : 'failed', violations: r.violations }, r.ok);
}

/** `{"rollback": N}`: the text of version N (0: the baked config); undefined when the body is a config. */
async function rollbackText(text: string, deps: OpsDeps): Promise<string | undefined> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw invalid(
      `the body is not valid JSON (${(err as Error).message}); send YAML as content-type text/yaml`,
    );
  }
  const rollback = (body as { rollback?: unknown } | null)?.rollback;
  if (rollback === undefined) return undefined;
  if (!Number.isInteger(rollback) || (rollback as number) < 0)
    throw invalid('rollback must be a version number (0: the config baked in at deploy)');
  if (rollback === 0) {
    const baked = deps.bakedConfigText?.();
    if (!baked) throw notFound('this deployment has no baked config to roll back to');
    return baked;
  }
  const earlier = await deps.table.configVersion(rollback as number);
  if (!earlier) throw notFound(`no saved config version ${String(rollback)}`);
  return earlier.text;
}

export async function saveConfig(req: OpsRequest, deps: OpsDeps): Promise<OpsResult> {
  let { text, json } = configText(req);
  if (json) {
    const earlier = await rollbackText(text, deps);
    if (earlier !== undefined) {
      text = earlier;
      json = /^\s*[{[]/.test(text);
    }
  }
  const r = checkConfig(text, json, deps);
  if (!r.ok)
    throw new OpsError('CONFIG_INVALID', 'the config has errors: nothing was saved', {
      status: 'failed',
      violations: r.violations,
    });
  const latest = await deps.table.latestConfig();
  const version = (latest?.version ?? 0) + 1;
  const saved = {
    version,
    savedAt: new Date(deps.now()).toISOString(),
    by: req.by,
    text,
    json: JSON.stringify(r.config),
    // Used only while this deploy's baked config is the baked one (domain/config/precedence.ts).
    baseHash: deps.config().bakedHash,
  };
  if (!(await deps.table.putConfigVersion(saved)))
    throw new OpsError('CONFLICT', `another save took version ${version} first: read it and try again`);
  deps.configSaved?.(saved);
  deps.log.info('config saved', { version, by: req.by });
  return ok({ version, savedAt: saved.savedAt, by: req.by, status: 'passed', violations: r.violations });
}

export async function listConfigVersions(req: OpsRequest, deps: OpsDeps): Promise<OpsResult> {
  const limit = limitOf(req.query.limit, 20, 100);
  return ok({ versions: await deps.table.listConfigVersions(limit) });
}

/** A starting value for a JSON Schema: its default, an example, or a placeholder saying what goes there. */
export function exampleOf(schema: JsonSchema | undefined, name: string, depth = 0): JsonValue {
  if (!schema || depth > 5) return `<${name}>`;
  if (schema.default !== undefined) return schema.default as JsonValue;
  if (Array.isArray(schema.examples) && schema.examples.length) return schema.examples[0] as JsonValue;
  if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum[0] as JsonValue;
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  if (type === 'object' || schema.properties) {
    const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
    const required = new Set((schema.required as string[] | undefined) ?? []);
    const keys = required.size ? Object.keys(props).filter((k) => required.has(k)) : [];
    return Object.fromEntries(keys.map((k) => [k, exampleOf(props[k], k, depth + 1)]));
  }
  if (type === 'array') return [exampleOf(schema.items as JsonSchema | undefined, name, depth + 1)];
  if (type === 'integer' || type === 'number') return 0;
  if (type === 'boolean') return false;
  const what = typeof schema.description === 'string' ? schema.description : name;
  return `<${what}>`;
}

function templateFor(type: string, deps: OpsDeps) {
  const plugin = deps.vendors[type];
  if (!plugin) return undefined;
  return {
    transmit_name: `${type}-main`,
    transmit_type: type,
    filter_stream: ['*'],
    base_url: `<the ${type} API base URL>`,
    api_key_secret: `factory-relay/${type}`,
    options: exampleOf(plugin.optionsSchema, 'options'),
    fields: exampleOf(plugin.fieldsSchema, 'fields'),
  };
}

export async function listTemplates(_req: OpsRequest, deps: OpsDeps): Promise<OpsResult> {
  return ok({
    templates: Object.fromEntries(Object.keys(deps.vendors).map((type) => [type, templateFor(type, deps)])),
  });
}

export async function getTemplate(req: OpsRequest, deps: OpsDeps): Promise<OpsResult> {
  const type = req.path.type ?? '';
  const template = templateFor(type, deps);
  if (!template)
    throw notFound(`no vendor plug-in ${type}; there are ${Object.keys(deps.vendors).join(', ')}`);
  return ok({ transmit_type: type, template });
}
