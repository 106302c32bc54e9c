/**
 * A receiver's `ignore` globs: keys that sync tools and editors leave behind (macOS `.DS_Store` and AppleDouble
 * `._*`, Windows `Thumbs.db` / `desktop.ini`, Office `~$*` owner files, rsync and LibreOffice temporaries). A
 * matching key is never sent: the router records it SKIPPED / IGNORED_KEY. Pure: no I/O.
 *
 * Glob syntax (matched against the whole, URL-decoded key in Unicode NFC; case-sensitive):
 *   *     any characters within one segment (possibly none; a leading `.` too)
 *   ?     exactly one character, not `/`
 *   **    any characters across segments; `**​/` may also match no segment at all
 *   every other character is literal. `[`, `]`, `{`, `}` and a leading `!` are refused (validate.ts), so that
 *   nobody writes a class, a brace list or a negation and gets a literal match without noticing.
 *
 * A small translation to RegExp rather than a glob library: the syntax the defaults need is four tokens, and the
 * relay's Lambda bundles carry no dependency for it (key_pattern in match.ts is translated the same way).
 */

/** Used when a receiver has no `ignore`. `ignore: []` turns them off; `@defaults` in a list brings them in. */
export const DEFAULT_IGNORE: readonly string[] = [
  '**/.DS_Store',
  '**/._*',
  '**/Thumbs.db',
  '**/desktop.ini',
  '**/~$*',
  '**/*.tmp',
  // rsync's temporary file while it writes `name`: `.name.XXXXXX`
  '**/.*.??????',
  // LibreOffice's lock file of an open document
  '**/.~lock.*#',
];

/** The entry of an `ignore` list that stands for DEFAULT_IGNORE. */
export const DEFAULTS_ENTRY = '@defaults';

/** Why a glob cannot be used, or undefined when it can. */
export function ignoreGlobProblem(glob: string): string | undefined {
  if (glob === DEFAULTS_ENTRY) return undefined;
  if (glob === '') return 'must not be empty';
  if (glob.startsWith('/')) return 'must not start with "/" (S3 keys have no leading slash)';
  if (glob.startsWith('!')) return 'negations ("!") are not supported: list only what to ignore';
  const bad = /[[\]{}]/.exec(glob);
  if (bad)
    return `"${bad[0]}" is not supported (only *, ** and ? are special; a class or brace list would be taken literally)`;
  if (/\*{3,}/.test(glob)) return 'use * (within a segment) or ** (across segments)';
  return undefined;
}

const escapeRegex = (s: string): string => s.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');

/** The anchored RegExp of one glob (assumed valid: see ignoreGlobProblem). */
export function globToRegExp(glob: string): RegExp {
  const g = glob.normalize('NFC');
  let src = '';
  let i = 0;
  while (i < g.length) {
    const c = g[i] ?? '';
    if (c === '*' && g[i + 1] === '*') {
      if (g[i + 2] === '/') {
        src += '(?:.*/)?';
        i += 3;
      } else {
        src += '.*';
        i += 2;
      }
      continue;
    }
    if (c === '*') src += '[^/]*';
    else if (c === '?') src += '[^/]';
    else src += escapeRegex(c);
    i++;
  }
  return new RegExp(`^${src}$`, 'su');
}

/** The globs a receiver's `ignore` stands for: the defaults when absent, `@defaults` expanded. */
export function effectiveIgnore(ignore: readonly string[] | undefined): string[] {
  if (ignore === undefined) return [...DEFAULT_IGNORE];
  return [...new Set(ignore.flatMap((g) => (g === DEFAULTS_ENTRY ? DEFAULT_IGNORE : [g.normalize('NFC')])))];
}

export interface IgnoreMatcher {
  /** The first glob that matches the key (compared in NFC), or undefined. */
  match(key: string): string | undefined;
}

/** Compiles a receiver's `ignore` list; a glob that does not compile is skipped (validation refuses it). */
export function compileIgnore(ignore: readonly string[] | undefined): IgnoreMatcher {
  const globs = effectiveIgnore(ignore)
    .filter((g) => ignoreGlobProblem(g) === undefined)
    .map((glob) => ({ glob, regex: globToRegExp(glob) }));
  return {
    match(key) {
      const nfc = key.normalize('NFC');
      return globs.find((g) => g.regex.test(nfc))?.glob;
    },
  };
}
