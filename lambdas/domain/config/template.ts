/**
 * Field templates: how a stream's object becomes a vendor's fields. Pure: no I/O.
 *
 * A template is any JSON value. Strings may hold `{expr}` placeholders; objects and arrays nest.
 *
 *   expr   = source ( '??' source )* ( '|' filter ( ':' arg )? )*
 *   source = a path (`serial`, `sidecar.a.0`, `meta.tz`, `object.basename`, `stream.asset`, `vars.x`)
 *            or a quoted literal ('x' or "x", backslash escapes the quote)
 *
 * The first source that resolves wins; filters then run left to right. A path counts as missing when it is
 * absent, null or the empty string; a literal always resolves. A string that is exactly one placeholder yields
 * the raw value (an array stays an array); mixed text yields a string. `{{` and `}}` are literal braces.
 * A placeholder that does not resolve makes its field missing: the field is left out of the rendered value
 * and reported in `missing` (an object or array left empty by missing fields is left out too).
 */
import type { JsonObject, JsonValue } from '#vendors/types.ts';
import {
  canonicalTimeZone,
  formatInstant,
  parseTimestamp,
  timeZoneProblem,
  wallClockToEpochMs,
} from './time.ts';

export type JsonPath = Array<string | number>;

/** The object being routed, as templates see it (`object.*`). basename/stem/extension derive from `key`. */
export interface TemplateObject {
  bucket: string;
  key: string;
  size?: number;
  /** Surrounding quotes (as S3 returns ETags) are removed when rendered. */
  etag?: string;
  version_id?: string;
  /** ISO 8601. */
  last_modified?: string;
}

/** Everything a template can read. */
export interface TemplateContext {
  /** Named parts of the matched key pattern. */
  parts: Record<string, string>;
  /** The parsed sidecar JSON, when the stream has one and it exists. */
  sidecar?: JsonValue;
  /** S3 user metadata, keys lowercase (without the `x-amz-meta-` prefix). */
  meta: Record<string, string>;
  object: TemplateObject;
  stream: { asset: string; stream_type: string };
  /** The stream's `vars`. */
  vars: Record<string, JsonValue>;
  /**
   * The stream's `time_zone`, resolved for this object (resolveTimeZone): `{stream.time_zone}` and the
   * `iso8601` filter read it. Absent: `UTC`.
   */
  timeZone?: TimeZoneResolution;
}

/** A stream's `time_zone` for one object: a canonical IANA name, or why there is none. */
export type TimeZoneResolution =
  | { ok: true; zone: string }
  | { ok: false; reason: string; cause?: 'invalid-time-zone' };

/**
 * Why a value is not there. Absent (no `cause`): no source resolved. `invalid-timestamp`: a value is there
 * but is not a time. `invalid-time-zone`: a zone is there but is not an IANA time zone.
 */
export type FailureCause = 'invalid-timestamp' | 'invalid-time-zone';

/** A field whose template did not resolve. */
export interface MissingValue {
  json_path: JsonPath;
  /** The placeholder's expression, without braces. */
  expr: string;
  reason: string;
  /** Set when a value was there but unusable; absent when the value is simply missing. */
  cause?: FailureCause;
}

export interface RenderResult {
  value: JsonObject;
  missing: MissingValue[];
}

/** Source roots written as `<root>.<path>`. A bare name that is not a root is a key part. */
export const SOURCE_ROOTS = ['sidecar', 'meta', 'object', 'stream', 'vars'] as const;
export const OBJECT_FIELDS = [
  'key',
  'bucket',
  'basename',
  'stem',
  'extension',
  'size',
  'etag',
  'version_id',
  'last_modified',
] as const;
export const STREAM_FIELDS = ['asset', 'stream_type', 'time_zone'] as const;
export const FILTERS = ['upper', 'lower', 'trim', 'number', 'iso8601', 'split', 'default'] as const;

export type SourceRoot = 'part' | (typeof SOURCE_ROOTS)[number];
export type FilterName = (typeof FILTERS)[number];

export type Source =
  | { kind: 'literal'; value: string; text: string }
  /** `path` holds the segments after the root (for `part`, the name). Meta keys are lowercased. */
  | { kind: 'path'; root: SourceRoot; path: string[]; text: string };

export interface Filter {
  name: FilterName;
  arg?: string;
}

export interface Placeholder {
  /** The text between the braces, trimmed. */
  expr: string;
  sources: Source[];
  filters: Filter[];
  /** Offset of the `{` in its string. */
  position: number;
}

export type TemplateNode =
  | { kind: 'value'; value: JsonValue }
  /** `single`: the string is exactly one placeholder (renders the raw value). */
  | { kind: 'text'; pieces: Array<string | Placeholder>; single: boolean }
  | { kind: 'object'; entries: Array<[string, TemplateNode]> }
  | { kind: 'array'; items: TemplateNode[] };

export interface CompiledTemplate {
  readonly compiled: true;
  readonly root: TemplateNode;
}

/** A template that cannot be parsed. `position` is the offset in the string at `json_path`. */
export class TemplateSyntaxError extends Error {
  constructor(
    readonly reason: string,
    readonly template: string,
    readonly position: number,
    readonly json_path: JsonPath,
  ) {
    super(`${reason} at position ${position} in ${JSON.stringify(template)}`);
    this.name = 'TemplateSyntaxError';
  }
}

// ---------------------------------------------------------------------------------------------------------
// Parsing

const PART_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PATH_TOKEN = /[A-Za-z0-9_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*/y;
const FILTER_TOKEN = /[A-Za-z0-9_]+/y;

const isRoot = (s: string): s is (typeof SOURCE_ROOTS)[number] =>
  (SOURCE_ROOTS as readonly string[]).includes(s);
const isFilter = (s: string): s is FilterName => (FILTERS as readonly string[]).includes(s);

/** Parses a template (any JSON value) once; throws TemplateSyntaxError. */
export function compileTemplate(template: JsonValue | CompiledTemplate): CompiledTemplate {
  if (isCompiled(template)) return template;
  return { compiled: true, root: compileNode(template, []) };
}

export function isCompiled(t: unknown): t is CompiledTemplate {
  return (
    typeof t === 'object' && t !== null && (t as { compiled?: unknown }).compiled === true && 'root' in t
  );
}

function compileNode(value: JsonValue, path: JsonPath): TemplateNode {
  if (typeof value === 'string') return compileString(value, path);
  if (Array.isArray(value))
    return { kind: 'array', items: value.map((v, i) => compileNode(v, [...path, i])) };
  if (value !== null && typeof value === 'object') {
    return {
      kind: 'object',
      entries: Object.entries(value).map(
        ([k, v]) => [k, compileNode(v, [...path, k])] as [string, TemplateNode],
      ),
    };
  }
  return { kind: 'value', value };
}

function compileString(s: string, path: JsonPath): TemplateNode {
  const pieces: Array<string | Placeholder> = [];
  let literal = '';
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === '{') {
      if (s[i + 1] === '{') {
        literal += '{';
        i += 2;
        continue;
      }
      const end = findClose(s, i, path);
      if (literal) pieces.push(literal);
      literal = '';
      pieces.push(parseExpression(s, i, end, path));
      i = end + 1;
      continue;
    }
    if (c === '}') {
      if (s[i + 1] === '}') {
        literal += '}';
        i += 2;
        continue;
      }
      throw new TemplateSyntaxError('unmatched "}" (write "}}" for a literal brace)', s, i, path);
    }
    literal += c;
    i++;
  }
  if (literal) pieces.push(literal);
  if (!pieces.some((p) => typeof p !== 'string')) return { kind: 'value', value: pieces.join('') };
  return { kind: 'text', pieces, single: pieces.length === 1 };
}

/** Index of the `}` closing the placeholder opened at `open`, skipping quoted literals. */
function findClose(s: string, open: number, path: JsonPath): number {
  let i = open + 1;
  while (i < s.length) {
    const c = s[i];
    if (c === '"' || c === "'") {
      i = skipQuoted(s, i, path) + 1;
      continue;
    }
    if (c === '{') throw new TemplateSyntaxError('"{" inside a placeholder', s, i, path);
    if (c === '}') return i;
    i++;
  }
  throw new TemplateSyntaxError('unclosed "{" (write "{{" for a literal brace)', s, open, path);
}

/** Index of the closing quote of the literal starting at `start`. */
function skipQuoted(s: string, start: number, path: JsonPath): number {
  const q = s[start];
  let i = start + 1;
  while (i < s.length) {
    if (s[i] === '\\') {
      i += 2;
      continue;
    }
    if (s[i] === q) return i;
    i++;
  }
  throw new TemplateSyntaxError('unterminated quoted literal', s, start, path);
}

function unquote(raw: string): string {
  return raw.slice(1, -1).replace(/\\(.)/gs, '$1');
}

class ExprCursor {
  pos: number;
  constructor(
    readonly s: string,
    start: number,
    readonly end: number,
    readonly path: JsonPath,
  ) {
    this.pos = start;
  }
  skipWs(): void {
    while (this.pos < this.end && /\s/.test(this.s[this.pos] ?? '')) this.pos++;
  }
  atEnd(): boolean {
    return this.pos >= this.end;
  }
  peek(n = 1): string {
    return this.s.slice(this.pos, Math.min(this.pos + n, this.end));
  }
  fail(reason: string, at = this.pos): never {
    throw new TemplateSyntaxError(reason, this.s, at, this.path);
  }
  sticky(re: RegExp): string | undefined {
    re.lastIndex = this.pos;
    const m = re.exec(this.s);
    if (!m || m.index + m[0].length > this.end) return undefined;
    this.pos += m[0].length;
    return m[0];
  }
  quoted(): string {
    const close = skipQuoted(this.s, this.pos, this.path);
    const raw = this.s.slice(this.pos, close + 1);
    this.pos = close + 1;
    return unquote(raw);
  }
}

function parseExpression(s: string, open: number, close: number, path: JsonPath): Placeholder {
  const cur = new ExprCursor(s, open + 1, close, path);
  const expr = s.slice(open + 1, close).trim();
  cur.skipWs();
  if (cur.atEnd()) cur.fail('empty placeholder (write "{{}}" for literal braces)', open);
  const sources: Source[] = [];
  for (;;) {
    cur.skipWs();
    sources.push(parseSource(cur));
    cur.skipWs();
    if (cur.peek(2) === '??') {
      cur.pos += 2;
      continue;
    }
    break;
  }
  const filters: Filter[] = [];
  cur.skipWs();
  while (cur.peek() === '|') {
    cur.pos++;
    cur.skipWs();
    filters.push(parseFilter(cur));
    cur.skipWs();
  }
  if (!cur.atEnd()) {
    cur.fail(
      cur.peek() === '?' ? 'expected "??" between sources' : `unexpected ${JSON.stringify(cur.peek())}`,
    );
  }
  return { expr, sources, filters, position: open };
}

function parseSource(cur: ExprCursor): Source {
  const at = cur.pos;
  const c = cur.peek();
  if (c === '"' || c === "'") {
    const value = cur.quoted();
    return { kind: 'literal', value, text: cur.s.slice(at, cur.pos) };
  }
  const text = cur.sticky(PATH_TOKEN);
  if (!text) cur.fail('expected a name, a path or a quoted literal');
  return sourceFromPath(text, (reason) => cur.fail(reason, at));
}

/** Interprets `serial`, `sidecar.a.b`, `meta.x`, `object.key`… as a source. */
function sourceFromPath(text: string, fail: (reason: string) => never): Source {
  const segs = text.split('.');
  const head = segs[0] ?? '';
  if (segs.length === 1) {
    if (head === 'object' || head === 'stream') {
      fail(
        `"${head}" needs a field: ${head}.${(head === 'object' ? OBJECT_FIELDS : STREAM_FIELDS).join('|')}`,
      );
    }
    if (isRoot(head)) return { kind: 'path', root: head, path: [], text };
    if (!PART_NAME.test(head)) fail(`"${head}" is not a key part name (letters, digits and _)`);
    return { kind: 'path', root: 'part', path: [head], text };
  }
  if (!isRoot(head)) {
    fail(`unknown source "${text}": paths start with ${SOURCE_ROOTS.map((r) => `${r}.`).join(', ')}`);
  }
  const rest = segs.slice(1);
  if (head === 'object' || head === 'stream') {
    const fields: readonly string[] = head === 'object' ? OBJECT_FIELDS : STREAM_FIELDS;
    if (rest.length !== 1 || !fields.includes(rest[0] ?? '')) {
      fail(`unknown field "${text}"; known: ${fields.map((f) => `${head}.${f}`).join(', ')}`);
    }
  }
  if (head === 'meta') return { kind: 'path', root: 'meta', path: [rest.join('.').toLowerCase()], text };
  return { kind: 'path', root: head, path: rest, text };
}

function parseFilter(cur: ExprCursor): Filter {
  const at = cur.pos;
  const name = cur.sticky(FILTER_TOKEN);
  if (!name) cur.fail(`expected a filter name (${FILTERS.join(', ')})`);
  if (!isFilter(name)) cur.fail(`unknown filter "${name}"; known: ${FILTERS.join(', ')}`, at);
  cur.skipWs();
  let arg: string | undefined;
  if (cur.peek() === ':') {
    cur.pos++;
    cur.skipWs();
    const argAt = cur.pos;
    const c = cur.peek();
    if (c === '"' || c === "'") arg = cur.quoted();
    else {
      let j = cur.pos;
      while (j < cur.end && cur.s[j] !== '|') j++;
      arg = cur.s.slice(cur.pos, j).trim();
      cur.pos = j;
      if (arg === '') cur.fail(`"${name}:" needs a value (quote it for an empty or spaced value)`, argAt);
    }
  }
  if (arg !== undefined && name !== 'split' && name !== 'default' && name !== 'iso8601') {
    cur.fail(`filter "${name}" takes no argument`, at);
  }
  if (arg === undefined && name === 'default') cur.fail('"default" needs a value: default:<literal>', at);
  return arg === undefined ? { name } : { name, arg };
}

/** Parses one source path (as in a stream's `required` list). Throws TemplateSyntaxError. */
export function parseSourcePath(text: string): Source & { kind: 'path' } {
  const t = text.trim();
  PATH_TOKEN.lastIndex = 0;
  const m = PATH_TOKEN.exec(t);
  if (!m || m[0] !== t) throw new TemplateSyntaxError('expected a name or a path', text, 0, []);
  const src = sourceFromPath(t, (reason) => {
    throw new TemplateSyntaxError(reason, text, 0, []);
  });
  return src as Source & { kind: 'path' };
}

// ---------------------------------------------------------------------------------------------------------
// Introspection

export interface PlaceholderRef {
  /** Path of the string holding the placeholder, inside the template. */
  json_path: JsonPath;
  placeholder: Placeholder;
}

/** Every placeholder of a template, with where it is. */
export function templatePlaceholders(template: JsonValue | CompiledTemplate): PlaceholderRef[] {
  const out: PlaceholderRef[] = [];
  const walk = (node: TemplateNode, path: JsonPath): void => {
    if (node.kind === 'text') {
      for (const p of node.pieces) if (typeof p !== 'string') out.push({ json_path: path, placeholder: p });
    } else if (node.kind === 'object') for (const [k, n] of node.entries) walk(n, [...path, k]);
    else if (node.kind === 'array') {
      node.items.forEach((n, i) => {
        walk(n, [...path, i]);
      });
    }
  };
  walk(compileTemplate(template).root, []);
  return out;
}

/** The source paths a template uses (`serial`, `sidecar.tags`, `object.basename`…), unique, in order. */
export function referencedNames(template: JsonValue | CompiledTemplate): string[] {
  const names = new Set<string>();
  for (const { placeholder } of templatePlaceholders(template)) {
    for (const s of placeholder.sources) if (s.kind === 'path') names.add(s.text);
  }
  return [...names];
}

// ---------------------------------------------------------------------------------------------------------
// Rendering

type Resolved = { ok: true; value: JsonValue } | { ok: false; reason: string; cause?: FailureCause };

const cache = new WeakMap<object, CompiledTemplate>();

function compiledFor(template: JsonValue | CompiledTemplate): CompiledTemplate {
  if (isCompiled(template)) return template;
  if (template === null || typeof template !== 'object') return compileTemplate(template);
  let c = cache.get(template);
  if (!c) {
    c = compileTemplate(template);
    cache.set(template, c);
  }
  return c;
}

/**
 * Renders an object of field templates (raw or compiled; raw ones are compiled once and cached). Missing
 * leaves are omitted from `value` and listed in `missing`.
 */
export function renderTemplates(
  templates: Record<string, JsonValue> | CompiledTemplate,
  ctx: TemplateContext,
): RenderResult {
  const { value, missing } = renderTemplate(templates as JsonValue | CompiledTemplate, ctx);
  const obj = value !== null && typeof value === 'object' && !Array.isArray(value) ? value : {};
  return { value: obj, missing };
}

/** Renders any template; `value` is undefined when the whole template is missing. */
export function renderTemplate(
  template: JsonValue | CompiledTemplate,
  ctx: TemplateContext,
): { value: JsonValue | undefined; missing: MissingValue[] } {
  const missing: MissingValue[] = [];
  const value = renderNode(compiledFor(template).root, ctx, [], missing);
  return { value, missing };
}

function renderNode(node: TemplateNode, ctx: TemplateContext, path: JsonPath, missing: MissingValue[]) {
  switch (node.kind) {
    case 'value':
      return node.value;
    case 'object': {
      const out: JsonObject = {};
      for (const [k, child] of node.entries) {
        const v = renderNode(child, ctx, [...path, k], missing);
        if (v !== undefined) out[k] = v;
      }
      return node.entries.length > 0 && Object.keys(out).length === 0 ? undefined : out;
    }
    case 'array': {
      const out: JsonValue[] = [];
      node.items.forEach((child, i) => {
        const v = renderNode(child, ctx, [...path, i], missing);
        if (v !== undefined) out.push(v);
      });
      return node.items.length > 0 && out.length === 0 ? undefined : out;
    }
    case 'text':
      return renderText(node.pieces, node.single, ctx, path, missing);
  }
}

function renderText(
  pieces: Array<string | Placeholder>,
  single: boolean,
  ctx: TemplateContext,
  path: JsonPath,
  missing: MissingValue[],
): JsonValue | undefined {
  let text = '';
  let failed = false;
  let raw: JsonValue | undefined;
  for (const piece of pieces) {
    if (typeof piece === 'string') {
      text += piece;
      continue;
    }
    const r = evaluate(piece, ctx);
    if (!r.ok) {
      failed = true;
      missing.push({
        json_path: path,
        expr: piece.expr,
        reason: r.reason,
        ...(r.cause ? { cause: r.cause } : {}),
      });
      continue;
    }
    raw = r.value;
    text += stringify(r.value);
  }
  if (failed) return undefined;
  return single ? raw : text;
}

function stringify(v: JsonValue): string {
  if (typeof v === 'string') return v;
  if (v === null) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** Evaluates one placeholder: first resolving source, then the filters. */
export function evaluate(ph: Placeholder, ctx: TemplateContext): Resolved {
  const reasons: string[] = [];
  let cur: Resolved | undefined;
  // A source that is there but unusable (an invalid time zone) is reported as such when nothing resolves.
  let failure: Resolved | undefined;
  for (const src of ph.sources) {
    const r = resolveSource(src, ctx);
    if (r.ok) {
      cur = r;
      break;
    }
    reasons.push(r.reason);
    if (r.cause) failure ??= r;
  }
  let result: Resolved = cur ?? failure ?? { ok: false, reason: reasons.join('; ') };
  for (const f of ph.filters) result = applyFilter(f, result, ctx);
  return result;
}

const present = (v: JsonValue | undefined): v is JsonValue => v !== undefined && v !== null && v !== '';

function resolveSource(src: Source, ctx: TemplateContext): Resolved {
  if (src.kind === 'literal') return { ok: true, value: src.value };
  if (src.root === 'stream' && src.path[0] === 'time_zone') {
    const tz = ctx.timeZone ?? { ok: true, zone: 'UTC' };
    return tz.ok
      ? ok(tz.zone)
      : { ok: false, reason: `stream.time_zone: ${tz.reason}`, ...(tz.cause ? { cause: tz.cause } : {}) };
  }
  const v = lookup(src, ctx);
  return present(v) ? ok(v) : notFound(src, ctx);
}

const ok = (value: JsonValue): Resolved => ({
  ok: true,
  value: value !== null && typeof value === 'object' ? structuredClone(value) : value,
});

function lookup(src: Source & { kind: 'path' }, ctx: TemplateContext): JsonValue | undefined {
  switch (src.root) {
    case 'part':
      return ctx.parts[src.path[0] ?? ''];
    case 'sidecar':
      return dig(ctx.sidecar, src.path);
    case 'vars':
      return dig(ctx.vars, src.path);
    case 'meta':
      return src.path.length === 0 ? ctx.meta : ctx.meta[src.path[0] ?? ''];
    case 'stream':
      return src.path[0] === 'asset' ? ctx.stream.asset : ctx.stream.stream_type; // time_zone: resolveSource
    case 'object':
      return objectField(ctx.object, src.path[0] ?? '');
  }
}

function dig(root: JsonValue | undefined, path: string[]): JsonValue | undefined {
  let cur: JsonValue | undefined = root;
  for (const seg of path) {
    if (Array.isArray(cur)) {
      if (!/^\d+$/.test(seg)) return undefined;
      cur = cur[Number(seg)];
    } else if (cur !== null && typeof cur === 'object') {
      cur = Object.hasOwn(cur, seg) ? cur[seg] : undefined;
    } else return undefined;
  }
  return cur;
}

/** basename, stem and extension of an object key (extension: after the basename's last dot, no dot). */
export function keyParts(key: string): { basename: string; stem: string; extension?: string } {
  const basename = key.slice(key.lastIndexOf('/') + 1);
  const dot = basename.lastIndexOf('.');
  if (dot <= 0 || dot === basename.length - 1) return { basename, stem: basename };
  return { basename, stem: basename.slice(0, dot), extension: basename.slice(dot + 1) };
}

function objectField(o: TemplateObject, field: string): JsonValue | undefined {
  switch (field) {
    case 'basename':
    case 'stem':
    case 'extension':
      return keyParts(o.key)[field];
    case 'etag':
      return o.etag?.replace(/^"(.*)"$/, '$1');
    case 'key':
    case 'bucket':
    case 'size':
    case 'version_id':
    case 'last_modified':
      return o[field];
    default:
      return undefined;
  }
}

function notFound(src: Source & { kind: 'path' }, ctx: TemplateContext): Resolved {
  const p = src.path.join('.');
  switch (src.root) {
    case 'part':
      return { ok: false, reason: `key part "${p}" is not set` };
    case 'sidecar':
      if (ctx.sidecar === undefined) return { ok: false, reason: `${src.text}: the object has no sidecar` };
      return { ok: false, reason: `${src.text}: not in the sidecar` };
    case 'meta':
      return { ok: false, reason: `${src.text}: no such user metadata` };
    case 'vars':
      return { ok: false, reason: `${src.text}: not set in the stream's vars` };
    default:
      return { ok: false, reason: `${src.text}: not available for this object` };
  }
}

// ---------------------------------------------------------------------------------------------------------
// Filters

function applyFilter(f: Filter, input: Resolved, ctx: TemplateContext): Resolved {
  if (f.name === 'default') return input.ok ? input : { ok: true, value: f.arg ?? '' };
  if (!input.ok) return input;
  const v = input.value;
  switch (f.name) {
    case 'upper':
      return mapScalars(f.name, v, (s) => ok(asText(s).toUpperCase()));
    case 'lower':
      return mapScalars(f.name, v, (s) => ok(asText(s).toLowerCase()));
    case 'trim':
      return mapScalars(f.name, v, (s) => ok(asText(s).trim()));
    case 'number':
      return mapScalars(f.name, v, toNumber);
    case 'iso8601':
      return mapScalars(f.name, v, (s) => iso8601(s, f.arg, ctx));
    case 'split': {
      if (Array.isArray(v)) return input; // already a list (e.g. `{sidecar.tags ?? meta.tags|split}`)
      if (typeof v === 'object' && v !== null) return { ok: false, reason: 'split: needs a string' };
      return ok(asText(v).split(f.arg ?? ','));
    }
  }
}

type Scalar = string | number | boolean;

function asText(s: JsonValue): string {
  return typeof s === 'string' ? s : String(s);
}

/** Applies a filter to a scalar, or to every element of an array; objects and null fail. */
function mapScalars(name: string, v: JsonValue, fn: (s: Scalar) => Resolved): Resolved {
  if (Array.isArray(v)) {
    const out: JsonValue[] = [];
    for (const item of v) {
      const r = mapScalars(name, item, fn);
      if (!r.ok) return r;
      out.push(r.value);
    }
    return { ok: true, value: out };
  }
  if (v === null || typeof v === 'object') return { ok: false, reason: `${name}: cannot apply to an object` };
  return fn(v);
}

function toNumber(s: Scalar): Resolved {
  if (typeof s === 'number') return ok(s);
  if (typeof s === 'string' && s.trim() !== '') {
    const n = Number(s.trim());
    if (Number.isFinite(n)) return ok(n);
  }
  return { ok: false, reason: `number: ${JSON.stringify(s)} is not a number` };
}

// ---------------------------------------------------------------------------------------------------------
// Timestamps and the stream's time zone

/**
 * The `iso8601` filter (rules in time.ts): an instant stays that moment; a time without an offset is a wall
 * clock in `zoneArg` (`|iso8601:Europe/Berlin`) or else the stream's time_zone. The result is written with
 * that zone's offset. When the stream's zone did not resolve, an instant is still written (in UTC) but a time
 * without an offset cannot be placed and fails with the zone's reason.
 */
function iso8601(s: Scalar, zoneArg: string | undefined, ctx: TemplateContext): Resolved {
  const parsed = parseTimestamp(s);
  if (!parsed.ok) return { ok: false, reason: `iso8601: ${parsed.reason}`, cause: parsed.cause };
  let zone: string | undefined;
  if (zoneArg !== undefined) {
    zone = canonicalTimeZone(zoneArg);
    if (zone === undefined) {
      return { ok: false, reason: `iso8601: ${timeZoneProblem(zoneArg)}`, cause: 'invalid-time-zone' };
    }
  } else {
    const tz = ctx.timeZone ?? { ok: true, zone: 'UTC' };
    if (tz.ok) zone = tz.zone;
    else if (parsed.kind === 'wall') {
      return {
        ok: false,
        reason: `iso8601: ${JSON.stringify(s)} has no UTC offset and the stream's time_zone is unknown: ${tz.reason}`,
        ...(tz.cause ? { cause: tz.cause } : {}),
      };
    }
  }
  if (parsed.kind === 'instant') return ok(formatInstant(parsed.epochMs, zone));
  return ok(formatInstant(wallClockToEpochMs(parsed, zone ?? 'UTC'), zone));
}

/**
 * Resolves a stream's `time_zone` template for one object (before its fields are rendered). No template:
 * `UTC`. The value must be an IANA zone name; it is canonicalised (`europe/berlin` → `Europe/Berlin`).
 */
export function resolveTimeZone(template: string | undefined, ctx: TemplateContext): TimeZoneResolution {
  if (template === undefined) return { ok: true, zone: 'UTC' };
  const self: TemplateContext = {
    ...ctx,
    timeZone: { ok: false, reason: 'time_zone cannot read stream.time_zone' },
  };
  const { value, missing } = renderTemplate(template, self);
  if (value === undefined) {
    const reason = `time_zone "${template}" did not resolve: ${missing.map((m) => m.reason).join('; ')}`;
    const invalidZone = missing.some((m) => m.cause === 'invalid-time-zone');
    return { ok: false, reason, ...(invalidZone ? { cause: 'invalid-time-zone' as const } : {}) };
  }
  const name = typeof value === 'string' ? value.trim() : JSON.stringify(value);
  const zone = canonicalTimeZone(name);
  if (zone === undefined) {
    const why = timeZoneProblem(name) ?? name;
    return { ok: false, reason: `time_zone "${template}" gave ${why}`, cause: 'invalid-time-zone' };
  }
  return { ok: true, zone };
}

// ---------------------------------------------------------------------------------------------------------
// Required names

/** Resolves one source path (`serial`, `sidecar.x`, `meta.x`…) against a context. */
export function resolvePath(path: string, ctx: TemplateContext): Resolved {
  return resolveSource(parseSourcePath(path), ctx);
}

/** The entries of a stream's `required` list that do not resolve, with why. */
export function missingRequired(
  required: readonly string[] | undefined,
  ctx: TemplateContext,
): Array<{ name: string; reason: string }> {
  const out: Array<{ name: string; reason: string }> = [];
  for (const name of required ?? []) {
    const r = resolvePath(name, ctx);
    if (!r.ok) out.push({ name, reason: r.reason });
  }
  return out;
}
