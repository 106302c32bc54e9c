/**
 * Key patterns and routing lookups over a validated config. Pure: no I/O.
 *
 * Key pattern syntax (matched against the whole, already URL-decoded, S3 key; case-sensitive):
 *   {name}    a named part: one or more characters, no `/`, as few as possible (so `{serial}_{taken_at}`
 *             splits at the first `_`). The last part of a segment right after a literal `.` takes no dots
 *             (so in `{stem}.{ext}` the extension is the last `.` part).
 *   {name**}  a named part that may span `/` (one or more characters)
 *   *         any characters within a segment (possibly none)
 *   **        any characters across segments; `**​/` may also match no segment at all
 *   {{ }}     literal braces; every other character is literal.
 *
 * Keys and patterns are compared in Unicode NFC: a macOS export writes "Prüfstand" decomposed (NFD: u + U+0308)
 * where a config is typed composed, and the two must match. Parts come out of the NFC key, so a serial is the
 * same text however the file system spelled it; S3 is always read with the real key (the caller keeps it).
 *
 * A receiver's `ignore` globs (ignore.ts) take keys out of its streams before any pattern is tried.
 */
import { compileIgnore, type IgnoreMatcher } from './ignore.ts';
import type { DataReceiver, DataTransmit, RelayConfig, SidecarConfig, StreamConfig } from './types.ts';

export const RESERVED_PART_NAMES = ['sidecar', 'meta', 'object', 'stream', 'vars'] as const;
export const DEFAULT_SIDECAR_SUFFIX = '.json';

export class KeyPatternError extends Error {
  constructor(
    readonly reason: string,
    readonly pattern: string,
    readonly position: number,
  ) {
    super(`${reason} at position ${position} in key pattern ${JSON.stringify(pattern)}`);
    this.name = 'KeyPatternError';
  }
}

export interface KeyPattern {
  pattern: string;
  /** Anchored; named groups carry the parts. */
  regex: RegExp;
  /** Named parts, in pattern order. */
  names: string[];
  /** The pattern with its part names erased: two patterns with the same shape take exactly the same keys. */
  shape: string;
  /** Matches the key without its last extension (for `replace` sidecars): the pattern up to its last `.`. */
  stemRegex: RegExp;
  /** The named parts of `key`, or undefined when it does not match. */
  match(key: string): Record<string, string> | undefined;
}

type Token =
  | { t: 'lit'; text: string }
  | { t: 'part'; name: string; multi: boolean }
  | { t: 'star' }
  | { t: 'globstar'; slash: boolean };

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function tokenize(pattern: string): Token[] {
  const tokens: Token[] = [];
  const names = new Set<string>();
  const lit = (text: string) => {
    const last = tokens.at(-1);
    if (last?.t === 'lit') last.text += text;
    else tokens.push({ t: 'lit', text });
  };
  if (pattern === '') throw new KeyPatternError('empty key pattern', pattern, 0);
  if (pattern.startsWith('/')) {
    throw new KeyPatternError(
      'a key pattern must not start with "/" (S3 keys have no leading slash)',
      pattern,
      0,
    );
  }
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i] ?? '';
    if (c === '{') {
      if (pattern[i + 1] === '{') {
        lit('{');
        i += 2;
        continue;
      }
      const close = pattern.indexOf('}', i + 1);
      if (close < 0) throw new KeyPatternError('unclosed "{"', pattern, i);
      const inner = pattern.slice(i + 1, close);
      const multi = inner.endsWith('**');
      const name = multi ? inner.slice(0, -2) : inner;
      if (!NAME.test(name)) {
        throw new KeyPatternError(
          `invalid part name ${JSON.stringify(inner)} (letters, digits and _, optionally followed by **)`,
          pattern,
          i,
        );
      }
      if ((RESERVED_PART_NAMES as readonly string[]).includes(name)) {
        throw new KeyPatternError(
          `"${name}" is reserved for templates; choose another part name`,
          pattern,
          i,
        );
      }
      if (names.has(name)) throw new KeyPatternError(`duplicate part name "${name}"`, pattern, i);
      const prev = tokens.at(-1);
      if (prev?.t === 'part') {
        throw new KeyPatternError(
          `parts {${prev.name}} and {${name}} must be separated by literal text`,
          pattern,
          i,
        );
      }
      names.add(name);
      tokens.push({ t: 'part', name, multi });
      i = close + 1;
      continue;
    }
    if (c === '}') {
      if (pattern[i + 1] === '}') {
        lit('}');
        i += 2;
        continue;
      }
      throw new KeyPatternError('unmatched "}" (write "}}" for a literal brace)', pattern, i);
    }
    if (c === '*') {
      let n = 0;
      while (pattern[i + n] === '*') n++;
      if (n > 2) throw new KeyPatternError('use * (within a segment) or ** (across segments)', pattern, i);
      if (n === 1) tokens.push({ t: 'star' });
      else if (pattern[i + 2] === '/') {
        tokens.push({ t: 'globstar', slash: true });
        i += 1;
      } else tokens.push({ t: 'globstar', slash: false });
      i += n;
      continue;
    }
    lit(c);
    i++;
  }
  return tokens;
}

const escapeRegex = (s: string): string => s.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');

function toRegex(tokens: Token[]): RegExp {
  let src = '';
  tokens.forEach((tok, idx) => {
    switch (tok.t) {
      case 'lit':
        src += escapeRegex(tok.text);
        break;
      case 'star':
        src += '[^/]*';
        break;
      case 'globstar':
        src += tok.slash ? '(?:.*/)?' : '.*';
        break;
      case 'part': {
        if (tok.multi) {
          src += `(?<${tok.name}>.+?)`;
          break;
        }
        const prev = tokens[idx - 1];
        const next = tokens[idx + 1];
        const afterDot = prev?.t === 'lit' && prev.text.endsWith('.');
        const endsSegment = next === undefined || (next?.t === 'lit' && next.text.startsWith('/'));
        src += afterDot && endsSegment ? `(?<${tok.name}>[^/.]+)` : `(?<${tok.name}>[^/]+?)`;
        break;
      }
    }
  });
  return new RegExp(`^${src}$`, 'su');
}

/** The tokens of the pattern without its final extension (from the last literal `.` of the last segment). */
function stemTokens(tokens: Token[]): Token[] {
  for (let i = tokens.length - 1; i >= 0; i--) {
    const tok = tokens[i];
    if (!tok) continue;
    if (tok.t === 'globstar' || (tok.t === 'part' && tok.multi)) break;
    if (tok.t !== 'lit') continue;
    const slash = tok.text.lastIndexOf('/');
    const dot = tok.text.lastIndexOf('.');
    if (dot > slash) {
      const head = tok.text.slice(0, dot);
      return [...tokens.slice(0, i), ...(head ? [{ t: 'lit' as const, text: head }] : [])];
    }
    if (slash >= 0) break;
  }
  return tokens;
}

/** Compiles a key pattern; throws KeyPatternError on bad syntax or duplicate names. */
export function compileKeyPattern(rawPattern: string): KeyPattern {
  // Normalised here too: a config baked by an older build, or built in code, was not normalised at load.
  const pattern = rawPattern.normalize('NFC');
  const tokens = tokenize(pattern);
  const names = tokens.flatMap((t) => (t.t === 'part' ? [t.name] : []));
  const regex = toRegex(tokens);
  const stemRegex = toRegex(stemTokens(tokens));
  let n = 0;
  const shape = toRegex(tokens.map((t) => (t.t === 'part' ? { ...t, name: `p${n++}` } : t))).source;
  return {
    pattern,
    regex,
    names,
    shape,
    stemRegex,
    match(key: string) {
      const m = regex.exec(key.normalize('NFC'));
      if (!m) return undefined;
      const parts: Record<string, string> = {};
      for (const n of names) parts[n] = m.groups?.[n] ?? '';
      return parts;
    },
  };
}

/**
 * Values tried for each piece of a pattern by `sampleKeys`, by what the piece may hold. Parts carry no type
 * (a `taken_at` is any text until a template reads it), so the values vary in what matching looks at: length,
 * `_` `.` `-` `:` and, across segments, `/`. No character is in every value of a kind.
 */
const SAMPLE_VALUES = {
  part: ['a', 'Z9', 's_t', 'u.v', 'p-q', '2024-05-01T08:30:00Z'],
  /** `{ext}` after a literal `.` at the end of a segment: no dots. */
  extension: ['a', 'Z9', 's_t', 'p-q', 'MP4'],
  multi: ['a', 'd/e', 's_t.u/v-w'],
  star: ['', 'a', 's_t.u'],
  globstar: ['', 'a', 'd/e.f'],
  globstarSlash: ['', 'd/', 'd/e.f/'],
} as const;

/**
 * Keys the pattern matches, built by filling its parts and globs with assorted values: every piece with the
 * same variant, then each piece through all its variants with the others at their first. Unique, in order.
 */
export function sampleKeys(pattern: string): string[] {
  const tokens = tokenize(pattern);
  const slots: Array<{ at: number; values: readonly string[] }> = [];
  tokens.forEach((tok, i) => {
    if (tok.t === 'lit') return;
    let values: readonly string[];
    if (tok.t === 'star') values = SAMPLE_VALUES.star;
    else if (tok.t === 'globstar') values = tok.slash ? SAMPLE_VALUES.globstarSlash : SAMPLE_VALUES.globstar;
    else if (tok.multi) values = SAMPLE_VALUES.multi;
    else {
      const prev = tokens[i - 1];
      const next = tokens[i + 1];
      const afterDot = prev?.t === 'lit' && prev.text.endsWith('.');
      const endsSegment = next === undefined || (next.t === 'lit' && next.text.startsWith('/'));
      values = afterDot && endsSegment ? SAMPLE_VALUES.extension : SAMPLE_VALUES.part;
    }
    slots.push({ at: i, values });
  });
  const build = (pick: (slot: number) => string): string =>
    tokens
      .map((tok, i) => {
        if (tok.t === 'lit') return tok.text;
        const slot = slots.findIndex((s) => s.at === i);
        return pick(slot);
      })
      .join('');
  const keys = new Set<string>();
  const widest = Math.max(1, ...slots.map((s) => s.values.length));
  for (let v = 0; v < widest; v++) keys.add(build((s) => nth(slots[s]?.values, v)));
  slots.forEach((slot, s) => {
    for (const value of slot.values) keys.add(build((o) => (o === s ? value : nth(slots[o]?.values, 0))));
  });
  const regex = toRegex(tokens);
  return [...keys].filter((k) => regex.test(k));
}

const nth = (values: readonly string[] | undefined, v: number): string => values?.[v % values.length] ?? '';

const compiled = new WeakMap<StreamConfig, KeyPattern>();

/** The stream's compiled key pattern (cached per stream object). */
export function streamPattern(stream: StreamConfig): KeyPattern {
  let p = compiled.get(stream);
  if (!p) {
    p = compileKeyPattern(stream.key_pattern);
    compiled.set(stream, p);
  }
  return p;
}

/** `asset:stream_type`. */
export function streamId(stream: Pick<StreamConfig, 'asset' | 'stream_type'>): string {
  return `${stream.asset}:${stream.stream_type}`;
}

export interface StreamRef {
  receiver: DataReceiver;
  stream: StreamConfig;
  receiverIndex: number;
  streamIndex: number;
}

/** Every stream of the config, receivers in order, streams in order. */
export function listStreams(config: RelayConfig): StreamRef[] {
  return config.data_receiver.flatMap((receiver, receiverIndex) =>
    receiver.streams.map((stream, streamIndex) => ({ receiver, stream, receiverIndex, streamIndex })),
  );
}

export interface StreamMatch {
  receiver: DataReceiver;
  stream: StreamConfig;
  parts: Record<string, string>;
}

const ignores = new WeakMap<DataReceiver, IgnoreMatcher>();

/** The glob of the receiver's `ignore` (its defaults when it has none) that matches `key`, if any. */
export function receiverIgnores(receiver: DataReceiver, key: string): string | undefined {
  let m = ignores.get(receiver);
  if (!m) {
    m = compileIgnore(receiver.ignore);
    ignores.set(receiver, m);
  }
  return m.match(key);
}

/**
 * The first stream (receivers in order, streams in order) whose receiver bucket (when set) equals `bucket`,
 * whose receiver does not ignore `key`, and whose key_pattern matches `key` (both in NFC). The parts are NFC.
 * Does not exclude sidecar keys: check `isSidecarKey` first.
 */
export function matchStream(config: RelayConfig, bucket: string, key: string): StreamMatch | undefined {
  const nfc = key.normalize('NFC');
  for (const receiver of config.data_receiver) {
    if (receiver.bucket !== undefined && receiver.bucket !== bucket) continue;
    if (receiverIgnores(receiver, nfc) !== undefined) continue;
    for (const stream of receiver.streams) {
      const parts = streamPattern(stream).match(nfc);
      if (parts) return { receiver, stream, parts };
    }
  }
  return undefined;
}

/**
 * Why a key that no stream takes was left out on purpose: the first receiver of its bucket whose `ignore`
 * matches it, and the glob. Undefined when no receiver ignores it (the key is then unrouted).
 */
export function ignoredBy(
  config: RelayConfig,
  bucket: string,
  key: string,
): { receiver: DataReceiver; glob: string } | undefined {
  for (const receiver of config.data_receiver) {
    if (receiver.bucket !== undefined && receiver.bucket !== bucket) continue;
    const glob = receiverIgnores(receiver, key);
    if (glob !== undefined) return { receiver, glob };
  }
  return undefined;
}

/**
 * The config with the strings keys are compared with in Unicode NFC: key patterns, sidecar suffixes, ignore
 * globs. Applied when a config is validated (validate.ts), so what is baked and shown is what is matched.
 */
export function forMatching(config: RelayConfig): RelayConfig {
  const nfc = (s: string) => s.normalize('NFC');
  return {
    ...config,
    data_receiver: config.data_receiver.map((r) => ({
      ...r,
      ...(r.ignore ? { ignore: r.ignore.map(nfc) } : {}),
      streams: r.streams.map((s) => ({
        ...s,
        key_pattern: nfc(s.key_pattern),
        ...(s.sidecar?.suffix !== undefined
          ? { sidecar: { ...s.sidecar, suffix: nfc(s.sidecar.suffix) } }
          : {}),
      })),
    })),
  };
}

/** `*` or `asset:stream_type` (either side may be `*`); undefined when malformed. */
export function parseFilterEntry(entry: string): { asset: string; stream_type: string } | undefined {
  if (entry === '*') return { asset: '*', stream_type: '*' };
  const bits = entry.split(':');
  if (bits.length !== 2) return undefined;
  const [asset = '', stream_type = ''] = bits;
  if (asset === '' || stream_type === '') return undefined;
  return { asset, stream_type };
}

/** Whether one filter_stream entry takes the stream. */
export function filterMatches(entry: string, stream: Pick<StreamConfig, 'asset' | 'stream_type'>): boolean {
  const f = parseFilterEntry(entry);
  if (!f) return false;
  return (
    (f.asset === '*' || f.asset === stream.asset) &&
    (f.stream_type === '*' || f.stream_type === stream.stream_type)
  );
}

/** Whether a transmit takes the stream (ignores `enabled`). */
export function transmitTakes(transmit: DataTransmit, stream: Pick<StreamConfig, 'asset' | 'stream_type'>) {
  return transmit.filter_stream.some((e) => filterMatches(e, stream));
}

/** The enabled transmits (`enabled !== false`) whose filter_stream takes the stream, in config order. */
export function destinationsFor(
  config: RelayConfig,
  stream: Pick<StreamConfig, 'asset' | 'stream_type'>,
): DataTransmit[] {
  return config.data_transmit.filter((t) => t.enabled !== false && transmitTakes(t, stream));
}

function sidecarSettings(sidecar: SidecarConfig): { mode: 'append' | 'replace'; suffix: string } {
  return { mode: sidecar.mode ?? 'append', suffix: sidecar.suffix ?? DEFAULT_SIDECAR_SUFFIX };
}

/**
 * The sidecar key of an object of this stream: `append` → key + suffix; `replace` → the key with the
 * basename's last extension replaced by suffix (key + suffix when it has none). Undefined without a sidecar.
 */
export function sidecarKeyFor(stream: Pick<StreamConfig, 'sidecar'>, key: string): string | undefined {
  if (!stream.sidecar) return undefined;
  const { mode, suffix } = sidecarSettings(stream.sidecar);
  if (mode === 'append') return key + suffix;
  const slash = key.lastIndexOf('/');
  const dot = key.lastIndexOf('.');
  return (dot > slash + 1 && dot < key.length - 1 ? key.slice(0, dot) : key) + suffix;
}

/**
 * True when `key` is the sidecar of a key that some stream with a sidecar would match (in `bucket`, when
 * given and the receiver names one), so the router does not route sidecars as files.
 */
export function isSidecarKey(config: RelayConfig, key: string, bucket?: string): boolean {
  return sidecarOwner(config, key, bucket) !== undefined;
}

/** How long the router waits for a stream's sidecar that has not arrived (ms). */
export function sidecarWaitMs(sidecar: SidecarConfig): number {
  return (sidecar.wait_seconds ?? (sidecar.required ? 30 : 5)) * 1000;
}

/** What a sidecar key belongs to: its file's key (append mode), or its file's key stem + "." (replace mode). */
export interface SidecarOwner {
  stream: StreamConfig;
  /** append: the file's exact key. */
  fileKey?: string;
  /** replace: the file's key without its extension, followed by "." (list this prefix to find the file). */
  filePrefix?: string;
}

/** The stream (and file) a sidecar key belongs to, or undefined when it is no stream's sidecar. */
export function sidecarOwner(config: RelayConfig, key: string, bucket?: string): SidecarOwner | undefined {
  for (const receiver of config.data_receiver) {
    if (bucket !== undefined && receiver.bucket !== undefined && receiver.bucket !== bucket) continue;
    if (receiverIgnores(receiver, key) !== undefined) continue;
    for (const stream of receiver.streams) {
      if (!stream.sidecar) continue;
      const { mode, suffix } = sidecarSettings(stream.sidecar);
      // The suffix is cut from the real key (the file is looked up in S3 by it), in whichever form it is written.
      const written = [suffix, suffix.normalize('NFD')].find((s) => key.endsWith(s));
      if (written === undefined || key.length === written.length) continue;
      const base = key.slice(0, key.length - written.length);
      const nfcBase = base.normalize('NFC');
      const pattern = streamPattern(stream);
      if (mode === 'append' && pattern.regex.test(nfcBase)) return { stream, fileKey: base };
      if (mode === 'replace' && pattern.stemRegex.test(nfcBase)) return { stream, filePrefix: `${base}.` };
    }
  }
  return undefined;
}
