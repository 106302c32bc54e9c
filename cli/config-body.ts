/**
 * What `relay config validate|save FILE` posts: the file with its `${VAR}` references filled from the
 * operator's environment (the ops API never fills them: its own environment holds the Lambda's AWS
 * credentials), as the local `relay validate` loads it. YAML goes as YAML text (`content-type: text/yaml`,
 * comments kept), a `.json` file as JSON. A literal `${` (written `$${`) is sent as `$${` again, so the API
 * reads the same value. A file that does not parse is sent as it is: the API answers its violations.
 */
import { isScalar, parseDocument, visit } from 'yaml';
import { ConfigError, interpolateEnv, parseConfigText } from '#domain/config/load.ts';
import type { Violation } from '#domain/config/types.ts';
import type { RawBody } from './ops-client.ts';

type Env = Record<string, string | undefined>;

/** One string with its references filled, and every `${` left in it escaped for the API's own reading. */
function fill(s: string, env: Env): string {
  if (!s.includes('${')) return s;
  return String(interpolateEnv(s, env).value).replaceAll('${', () => '$${');
}

function fillTree(node: unknown, env: Env): unknown {
  if (typeof node === 'string') return fill(node, env);
  if (Array.isArray(node)) return node.map((v) => fillTree(v, env));
  if (node !== null && typeof node === 'object')
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, fillTree(v, env)]));
  return node;
}

/**
 * The body to post for a config file's text, or the violations of references the environment cannot fill
 * (`${VAR}` unset and no default): those are the operator's to fix, nothing is posted.
 */
export function configBody(
  file: string,
  text: string,
  env: Env,
): { body: RawBody; violations?: undefined } | { violations: Violation[]; body?: undefined } {
  const json = file.toLowerCase().endsWith('.json');
  const contentType = json ? 'application/json' : 'text/yaml';
  let tree: unknown;
  try {
    tree = parseConfigText(text, json ? 'json' : 'yaml');
  } catch (err) {
    if (err instanceof ConfigError) return { body: { raw: text, contentType } };
    throw err;
  }
  const { violations } = interpolateEnv(tree, env);
  if (violations.length > 0) return { violations };
  if (json) return { body: { raw: JSON.stringify(fillTree(tree, env)), contentType } };
  const doc = parseDocument(text, { uniqueKeys: true, merge: true });
  visit(doc, {
    Scalar(key, node) {
      // Keys are never interpolated (as the loader): only values.
      if (key !== 'key' && isScalar(node) && typeof node.value === 'string')
        node.value = fill(node.value, env);
    },
  });
  return { body: { raw: doc.toString(), contentType } };
}
