/**
 * Config validation, FactoryTX style: every finding is a violation `{description, json_path, level}`.
 * Errors make the config unusable; warnings are reported and the config is used. Pure: no I/O.
 *
 * First the JSON Schema (schema.ts). When the shape is wrong the semantic checks are skipped (they need it);
 * otherwise they run: unique names, key patterns, filter_stream, vendor plug-in options and fields, templates
 * against each stream they serve, base_url and api_key_secret.
 */
import type { ErrorObject } from 'ajv';
import { optionsValidator, shapeValidator } from '#config-validators';
import type { VendorCatalog } from '#vendors/registry.ts';
import type { JsonSchema, JsonValue } from '#vendors/types.ts';
import { ignoreGlobProblem } from './ignore.ts';
import {
  compileKeyPattern,
  filterMatches,
  forMatching,
  type KeyPattern,
  KeyPatternError,
  listStreams,
  parseFilterEntry,
  sampleKeys,
  streamId,
  transmitTakes,
} from './match.ts';
import { PATTERNS } from './schema.ts';
import {
  compileTemplate,
  type JsonPath,
  type Placeholder,
  parseSourcePath,
  type Source,
  TemplateSyntaxError,
  templatePlaceholders,
} from './template.ts';
import { timeZoneProblem } from './time.ts';
import type { RelayConfig, StreamConfig, Violation } from './types.ts';

export interface ValidationResult {
  /** True when there is no error-level violation. */
  ok: boolean;
  /** The config, when ok. */
  config?: RelayConfig;
  violations: Violation[];
}

/** Validates a parsed config (already env-interpolated) against the schema and the vendor catalog. */
export function validateConfig(raw: unknown, catalog: VendorCatalog): ValidationResult {
  const validateShape = shapeValidator();
  if (!validateShape(raw)) {
    const violations = dedupe(ajvViolations(validateShape.errors ?? [], raw, []));
    return { ok: false, violations };
  }
  // Key patterns, sidecar suffixes and ignore globs in Unicode NFC, as the router compares keys (match.ts).
  const config = forMatching(raw as unknown as RelayConfig);
  const violations = dedupe(semanticChecks(config, catalog));
  const ok = !violations.some((v) => v.level === 'error');
  return ok ? { ok, config, violations } : { ok, violations };
}

// ---------------------------------------------------------------------------------------------------------
// Schema errors → violations

/** JSON pointer → json_path (numbers for array indexes, looked up in `data`). */
function pointerToPath(pointer: string, data: unknown): JsonPath {
  if (pointer === '') return [];
  const out: JsonPath = [];
  let cur: unknown = data;
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur) && /^\d+$/.test(seg)) {
      out.push(Number(seg));
      cur = cur[Number(seg)];
    } else {
      out.push(seg);
      cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[seg] : undefined;
    }
  }
  return out;
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  integer: 'an integer',
  boolean: 'true or false',
  object: 'an object (a mapping)',
  array: 'a list',
  null: 'null',
};

/** Maps ajv errors to violations; `prefix` is prepended to every json_path. */
export function ajvViolations(errors: ErrorObject[], data: unknown, prefix: JsonPath): Violation[] {
  const out: Violation[] = [];
  for (const e of errors) {
    const base = [...prefix, ...pointerToPath(e.instancePath, data)];
    const p = e.params as Record<string, unknown>;
    let path = base;
    let description: string;
    switch (e.keyword) {
      case 'required':
        path = [...base, String(p.missingProperty)];
        description = `"${String(p.missingProperty)}" is required`;
        break;
      case 'additionalProperties': {
        const key = String(p.additionalProperty);
        path = [...base, key];
        const known = Object.keys((e.parentSchema?.properties as object | undefined) ?? {}).filter(
          (k) => k !== '$schema',
        );
        const near = closest(key, known);
        description = `unknown key "${key}"${near ? ` (did you mean "${near}"?)` : ''}; known: ${known.join(', ')}`;
        break;
      }
      case 'type':
        description = `must be ${String(p.type)
          .split(',')
          .map((t) => TYPE_NAMES[t] ?? t)
          .join(' or ')}`;
        break;
      case 'const':
        description = `must be ${JSON.stringify(p.allowedValue)}`;
        break;
      case 'enum':
        description = `must be one of: ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
        break;
      case 'minItems':
        description = `must have at least ${String(p.limit)} item${p.limit === 1 ? '' : 's'}`;
        break;
      case 'minLength':
        description = p.limit === 1 ? 'must not be empty' : `must be at least ${String(p.limit)} characters`;
        break;
      case 'uniqueItems':
        description = `must not repeat items (items ${String(p.j)} and ${String(p.i)} are equal)`;
        break;
      case 'pattern': {
        const known = Object.values(PATTERNS).find((x) => x.pattern === p.pattern);
        description = known?.message ?? `must match the pattern ${String(p.pattern)}`;
        break;
      }
      default:
        description = e.message ?? `fails ${e.keyword}`;
    }
    out.push({ description, json_path: path, level: 'error' });
  }
  return out;
}

/** The known word nearest to `word` (edit distance ≤ 2 or same letters ignoring case/_/-). */
function closest(word: string, known: string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[_-]/g, '');
  let best: string | undefined;
  let bestD = 3;
  for (const k of known) {
    const d = norm(k) === norm(word) ? 0 : editDistance(word, k);
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0] ?? 0;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j] ?? 0;
      dp[j] = Math.min((dp[j] ?? 0) + 1, (dp[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length] ?? 0;
}

function dedupe(vs: Violation[]): Violation[] {
  const seen = new Set<string>();
  return vs.filter((v) => {
    const k = JSON.stringify([v.level, v.json_path, v.description]);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------------------
// Semantic checks

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/i;
/** Secrets Manager secret names: 1–512 of letters, digits and / _ + = . @ - */
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;

function semanticChecks(config: RelayConfig, catalog: VendorCatalog): Violation[] {
  const out: Violation[] = [];
  const err = (json_path: JsonPath, description: string) =>
    out.push({ json_path, description, level: 'error' });
  const warn = (json_path: JsonPath, description: string) =>
    out.push({ json_path, description, level: 'warning' });

  const relay = config.relay;
  if (
    relay?.backoff_base_seconds !== undefined &&
    relay.backoff_max_seconds !== undefined &&
    relay.backoff_base_seconds > relay.backoff_max_seconds
  ) {
    warn(
      ['relay', 'backoff_base_seconds'],
      'is larger than backoff_max_seconds: every retry waits the maximum',
    );
  }

  // Receivers and streams.
  const receiverNames = new Map<string, number>();
  config.data_receiver.forEach((r, i) => {
    const first = receiverNames.get(r.data_receiver_name);
    if (first !== undefined) {
      err(
        ['data_receiver', i, 'data_receiver_name'],
        `duplicate data_receiver_name "${r.data_receiver_name}" (also data_receiver[${first}])`,
      );
    } else receiverNames.set(r.data_receiver_name, i);
    (r.ignore ?? []).forEach((glob, k) => {
      const problem = ignoreGlobProblem(glob);
      if (problem) err(['data_receiver', i, 'ignore', k], `"${glob}" ${problem}`);
    });
  });

  const streams = listStreams(config);
  const streamIds = new Map<string, JsonPath>();
  const partsOf = new Map<StreamConfig, string[] | undefined>();
  const matchedBefore: EarlierStream[] = [];
  for (const { stream, receiver, receiverIndex: ri, streamIndex: si } of streams) {
    const sp: JsonPath = ['data_receiver', ri, 'streams', si];
    const id = streamId(stream);
    const firstId = streamIds.get(id);
    if (firstId) err(sp, `duplicate stream "${id}" (also ${formatJsonPath(firstId)})`);
    else streamIds.set(id, sp);

    let pattern: KeyPattern | undefined;
    try {
      pattern = compileKeyPattern(stream.key_pattern);
    } catch (e) {
      if (!(e instanceof KeyPatternError)) throw e;
      err([...sp, 'key_pattern'], `${e.reason} (position ${e.position})`);
    }
    const names = pattern?.names;
    partsOf.set(stream, names);

    if (pattern) {
      const shadow = shadowedBy(pattern, receiver.bucket, matchedBefore);
      if (shadow) {
        warn(
          [...sp, 'key_pattern'],
          `stream "${id}" can never match: ${formatJsonPath(shadow.path)} (stream "${shadow.id}") ${shadow.how}`,
        );
      }
      matchedBefore.push({ pattern, bucket: receiver.bucket, path: sp, id });
    }

    (stream.required ?? []).forEach((name, k) => {
      const problem = requiredProblem(name, stream, names);
      if (problem) err([...sp, 'required', k], problem);
    });

    checkTimeZone(stream, names, [...sp, 'time_zone'], err, warn);

    const takers = config.data_transmit.filter((t) => transmitTakes(t, stream));
    if (takers.length === 0) {
      warn(sp, `no data_transmit takes stream "${id}": its objects are recorded but not delivered`);
    }
    if (stream.time_zone === undefined) {
      const use = takers.map((t) => naiveIso8601Use(t.fields)).find((u) => u !== undefined);
      if (use) {
        warn(
          sp,
          `has no time_zone, so {${use}} reads a time without a UTC offset as UTC; set time_zone to the IANA zone of the clocks that wrote it (or "UTC" to keep this)`,
        );
      }
    }
  }
  if (streams.length === 0) warn(['data_receiver'], 'no streams: every object will be UNROUTED');
  if (config.data_transmit.length === 0)
    warn(['data_transmit'], 'no destinations: nothing will be delivered');

  // Transmits.
  const transmitNames = new Map<string, number>();
  config.data_transmit.forEach((t, i) => {
    const tp: JsonPath = ['data_transmit', i];
    const first = transmitNames.get(t.transmit_name);
    if (first !== undefined) {
      err(
        [...tp, 'transmit_name'],
        `duplicate transmit_name "${t.transmit_name}" (also data_transmit[${first}])`,
      );
    } else transmitNames.set(t.transmit_name, i);

    // filter_stream
    let entryProblems = false;
    t.filter_stream.forEach((entry, k) => {
      const f = parseFilterEntry(entry);
      if (!f) {
        entryProblems = true;
        err(
          [...tp, 'filter_stream', k],
          `"${entry}" must be "*" or "asset:stream_type" (either side may be "*")`,
        );
      } else if (entry !== '*' && !streams.some(({ stream }) => filterMatches(entry, stream))) {
        entryProblems = true;
        err(
          [...tp, 'filter_stream', k],
          `"${entry}" matches no stream; streams: ${streams.map(({ stream }) => streamId(stream)).join(', ') || '(none)'}`,
        );
      }
    });
    const taken = streams.filter(({ stream }) => transmitTakes(t, stream));
    if (taken.length === 0 && !entryProblems) warn([...tp, 'filter_stream'], 'matches no stream');

    checkBaseUrl(t.base_url, [...tp, 'base_url'], err, warn);
    if (t.api_key_secret !== undefined) checkSecretName(t.api_key_secret, [...tp, 'api_key_secret'], err);

    // Vendor plug-in.
    const plugin = Object.hasOwn(catalog, t.transmit_type) ? catalog[t.transmit_type] : undefined;
    if (!plugin) {
      const known = Object.keys(catalog);
      err(
        [...tp, 'transmit_type'],
        `unknown transmit_type "${t.transmit_type}"; known: ${known.length ? known.join(', ') : '(none)'}`,
      );
    } else {
      const validate = optionsValidator(plugin);
      const options = t.options ?? {};
      if (!validate(options)) out.push(...ajvViolations(validate.errors ?? [], options, [...tp, 'options']));
      checkVendorFields(t.fields, plugin.fieldsSchema, [...tp, 'fields'], err);
    }

    // Templates, once per field, then against every stream the transmit takes.
    const fieldRefs: Array<{ path: JsonPath; placeholder: Placeholder }> = [];
    for (const [field, template] of Object.entries(t.fields)) {
      try {
        for (const ref of templatePlaceholders(compileTemplate(template))) {
          fieldRefs.push({ path: [...tp, 'fields', field, ...ref.json_path], placeholder: ref.placeholder });
        }
      } catch (e) {
        if (!(e instanceof TemplateSyntaxError)) throw e;
        err(
          [...tp, 'fields', field, ...e.json_path],
          `${e.reason} (position ${e.position}) in "${e.template}"`,
        );
      }
    }
    for (const { path, placeholder } of fieldRefs) checkIso8601Zones(placeholder, path, err);
    for (const { stream, receiverIndex: ri, streamIndex: si } of taken) {
      const names = partsOf.get(stream);
      if (!names) continue; // its key_pattern is already an error
      const where = `stream "${streamId(stream)}" (data_receiver[${ri}].streams[${si}])`;
      for (const { path, placeholder } of fieldRefs)
        checkPlaceholder(placeholder, stream, names, where, path, err, warn);
    }
  });
  return out;
}

type Report = (json_path: JsonPath, description: string) => void;

/** A stream already in the match order (its key_pattern compiled). */
interface EarlierStream {
  pattern: KeyPattern;
  /** Its receiver's bucket; undefined: every bucket. */
  bucket: string | undefined;
  path: JsonPath;
  id: string;
}

/**
 * The first earlier stream that takes every key this pattern would, so this stream can never match
 * (matchStream: first match wins, receivers then streams in order, a receiver without a bucket in every
 * bucket). Earlier streams count when they see every bucket this stream sees: no bucket, or the same one.
 *
 * Same shape (the pattern up to part names) is exact. Otherwise the earlier pattern must match every key of
 * `sampleKeys` (this pattern's parts filled with assorted values): a sample it misses clears the stream, so a
 * warning is only given when the earlier pattern is at least as general for all of them. Taking only some of
 * the keys is not reported: that is how a specific pattern put before a general one is meant to work.
 */
function shadowedBy(
  pattern: KeyPattern,
  bucket: string | undefined,
  earlier: readonly EarlierStream[],
): (EarlierStream & { how: string }) | undefined {
  let samples: string[] | undefined;
  for (const e of earlier) {
    if (e.bucket !== undefined && e.bucket !== bucket) continue;
    if (e.pattern.shape === pattern.shape) {
      const how =
        e.pattern.pattern === pattern.pattern
          ? 'has the same key_pattern and comes first'
          : 'has the same key_pattern up to part names and comes first';
      return { ...e, how };
    }
    samples ??= sampleKeys(pattern.pattern);
    if (samples.length > 0 && samples.every((key) => e.pattern.regex.test(key))) {
      return { ...e, how: 'takes every key it would; put the more specific key_pattern first' };
    }
  }
  return undefined;
}

function requiredProblem(
  name: string,
  stream: StreamConfig,
  parts: string[] | undefined,
): string | undefined {
  let src: Source & { kind: 'path' };
  try {
    src = parseSourcePath(name);
  } catch (e) {
    if (!(e instanceof TemplateSyntaxError)) throw e;
    return `"${name}": ${e.reason}`;
  }
  if (src.root === 'part') {
    if (parts && !parts.includes(name)) {
      return `"${name}" is not a named part of key_pattern "${stream.key_pattern}" (parts: ${parts.join(', ') || 'none'})`;
    }
    return undefined;
  }
  if (src.root === 'sidecar') {
    if (src.path.length === 0) return `"${name}": name a sidecar value, e.g. sidecar.serial`;
    return stream.sidecar ? undefined : `"${name}" needs a sidecar, but this stream has none`;
  }
  if (src.root === 'meta')
    return src.path.length === 0 ? `"${name}": name a metadata key, e.g. meta.serial` : undefined;
  return `"${name}": required entries are key parts, sidecar.<path> or meta.<name>`;
}

/** The value at `path` in a stream's vars. */
function dig(vars: StreamConfig['vars'], path: string[]): JsonValue | undefined {
  let cur: JsonValue | undefined = vars;
  for (const seg of path) {
    if (Array.isArray(cur)) cur = /^\d+$/.test(seg) ? cur[Number(seg)] : undefined;
    else if (cur !== null && typeof cur === 'object') cur = Object.hasOwn(cur, seg) ? cur[seg] : undefined;
    else cur = undefined;
  }
  return cur;
}

/** Why a source can never resolve for this stream, or undefined when it may. */
function deadSource(src: Source, stream: StreamConfig, parts: string[]): string | undefined {
  if (src.kind === 'literal') return undefined;
  if (src.root === 'part' && !parts.includes(src.path[0] ?? '')) {
    return `"${src.text}" is not a named part of key_pattern "${stream.key_pattern}" (parts: ${parts.join(', ') || 'none'})`;
  }
  if (src.root === 'sidecar' && !stream.sidecar)
    return `"${src.text}" needs a sidecar, but the stream has none`;
  if (src.root === 'vars') {
    const cur = dig(stream.vars, src.path);
    if (cur === undefined || cur === null || cur === '')
      return `"${src.text}" is not set in the stream's vars`;
  }
  return undefined;
}

/**
 * A placeholder none of whose sources can resolve for the stream (and with no `default`) is an error; a
 * source that cannot resolve but has a live alternative is a warning.
 */
function checkPlaceholder(
  ph: Placeholder,
  stream: StreamConfig,
  parts: string[],
  where: string,
  path: JsonPath,
  err: Report,
  warn: Report,
): void {
  const dead = ph.sources.map((s) => deadSource(s, stream, parts));
  const problems = dead.filter((d): d is string => d !== undefined);
  if (problems.length === 0) return;
  const hasDefault = ph.filters.some((f) => f.name === 'default');
  if (problems.length === ph.sources.length && !hasDefault) {
    err(path, `{${ph.expr}} can never resolve for ${where}: ${problems.join('; ')}`);
  } else {
    warn(path, `{${ph.expr}} for ${where}: ${problems.join('; ')}`);
  }
}

/** An `iso8601` filter's zone argument must be an IANA zone. */
function checkIso8601Zones(ph: Placeholder, path: JsonPath, err: Report): void {
  for (const f of ph.filters) {
    if (f.name !== 'iso8601' || f.arg === undefined) continue;
    const problem = timeZoneProblem(f.arg);
    if (problem) err(path, `{${ph.expr}}: iso8601:${f.arg}: ${problem}`);
  }
}

/** The first placeholder that reads a time through `iso8601` in the stream's zone (no zone argument). */
function naiveIso8601Use(fields: JsonValue): string | undefined {
  try {
    return templatePlaceholders(compileTemplate(fields)).find(({ placeholder }) =>
      placeholder.filters.some((f) => f.name === 'iso8601' && f.arg === undefined),
    )?.placeholder.expr;
  } catch (e) {
    if (e instanceof TemplateSyntaxError) return undefined; // reported with the fields
    throw e;
  }
}

/**
 * A stream's `time_zone`: a zone name, or a template whose sources can resolve for the stream. Every zone the
 * config itself writes (the name, quoted literals, `default:` values, the stream's `vars` it reads) must be an
 * IANA zone; the template may not read `stream.time_zone` (itself).
 */
function checkTimeZone(
  stream: StreamConfig,
  parts: string[] | undefined,
  path: JsonPath,
  err: Report,
  warn: Report,
): void {
  const template = stream.time_zone;
  if (template === undefined) return;
  let refs: ReturnType<typeof templatePlaceholders>;
  try {
    refs = templatePlaceholders(compileTemplate(template));
  } catch (e) {
    if (!(e instanceof TemplateSyntaxError)) throw e;
    err(path, `${e.reason} (position ${e.position}) in "${e.template}"`);
    return;
  }
  if (refs.length === 0) {
    const problem = timeZoneProblem(template);
    if (problem) err(path, problem);
    return;
  }
  const where = `stream "${streamId(stream)}"`;
  const whole = refs.length === 1 && template.trim() === `{${refs[0]?.placeholder.expr}}`;
  for (const { placeholder: ph } of refs) {
    if (ph.sources.some((s) => s.kind === 'path' && s.root === 'stream' && s.path[0] === 'time_zone')) {
      err(path, `{${ph.expr}}: time_zone cannot read stream.time_zone (itself)`);
      continue;
    }
    checkIso8601Zones(ph, path, err);
    if (parts) checkPlaceholder(ph, stream, parts, where, path, err, warn);
    // Zones the config writes itself, when they are the value (not text around a placeholder, not filtered).
    if (!whole || ph.filters.some((f) => f.name !== 'default')) continue;
    const written: Array<[string, JsonValue | undefined]> = ph.sources.map((s) =>
      s.kind === 'literal'
        ? [s.text, s.value]
        : [s.text, s.root === 'vars' ? dig(stream.vars, s.path) : undefined],
    );
    for (const f of ph.filters) if (f.arg !== undefined) written.push([`default:${f.arg}`, f.arg]);
    for (const [text, value] of written) {
      if (typeof value !== 'string' || value === '') continue;
      const problem = timeZoneProblem(value);
      if (problem) err(path, `{${ph.expr}}: ${text}: ${problem}`);
    }
  }
}

/** Required vendor fields need a template; with `additionalProperties: false`, unknown fields are errors. */
function checkVendorFields(
  fields: JsonValue,
  schema: JsonSchema | undefined,
  path: JsonPath,
  err: Report,
): void {
  if (!schema || fields === null || typeof fields !== 'object' || Array.isArray(fields)) return;
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const required = Array.isArray(schema.required) ? (schema.required as string[]) : [];
  for (const name of required) {
    if (!Object.hasOwn(fields, name))
      err([...path, name], `vendor field "${name}" is required but has no template`);
  }
  for (const [name, value] of Object.entries(fields)) {
    if (Object.hasOwn(properties, name)) checkVendorFields(value, properties[name], [...path, name], err);
    else if (schema.additionalProperties === false) {
      const known = Object.keys(properties);
      const near = closest(name, known);
      err(
        [...path, name],
        `unknown vendor field "${name}"${near ? ` (did you mean "${near}"?)` : ''}; known: ${known.join(', ')}`,
      );
    }
  }
}

function checkBaseUrl(value: string, path: JsonPath, err: Report, warn: Report): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    err(path, `must be an http(s) URL, got "${value}"`);
    return;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    err(path, `must be an http(s) URL, got scheme "${url.protocol.slice(0, -1)}"`);
    return;
  }
  if (url.username || url.password) {
    err(path, 'must not hold credentials: put the API key in Secrets Manager and name it in api_key_secret');
  }
  if (url.protocol === 'http:' && !LOOPBACK.test(url.hostname)) {
    warn(path, `uses plain http to ${url.hostname}: the API key would travel unencrypted (use https)`);
  }
}

function checkSecretName(value: string, path: JsonPath, err: Report): void {
  if (value.includes('INST:V1') || value.startsWith('ei_') || /^bearer\s/i.test(value)) {
    err(
      path,
      'looks like an API key: api_key_secret is the NAME of a Secrets Manager secret holding the key',
    );
  } else if (!SECRET_NAME.test(value)) {
    err(path, 'must be a Secrets Manager secret name (letters, digits and / _ + = . @ -)');
  }
}

// ---------------------------------------------------------------------------------------------------------

/** `data_transmit[0].fields.imageTimestamp`, `["odd key"]` for keys that are not identifiers; `(root)` for []. */
export function formatJsonPath(path: JsonPath): string {
  if (path.length === 0) return '(root)';
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}
