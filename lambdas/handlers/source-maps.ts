/**
 * Stack traces in the TypeScript sources, without `--enable-source-maps`.
 *
 * With that flag Node reads and parses every loaded file's source map at load time: measured, about 40 % of a
 * bundle's module init, paid by every cold start although most never log a stack. Turning it on later
 * (`process.setSourceMapsEnabled(true)`) does not help: Node maps only files loaded after that call, and the
 * bundle is the one file already loaded. So a bundle ships its map as a separate file (`index.mjs.map`, linked
 * by the `sourceMappingURL` comment) and this middleware maps the stack of an error that leaves a handler —
 * the stack the Lambda runtime logs — reading and parsing that map on the first such error only.
 *
 * Run from source (tests, the local stack) frames point at `.ts` files without a map, and are left as they are.
 */
import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const maps = new Map<string, SourceMap | undefined>();

/** The source map linked from a bundled file (`file:` URL), read once; undefined when it has none. */
function mapOf(fileUrl: string): SourceMap | undefined {
  if (maps.has(fileUrl)) return maps.get(fileUrl);
  let map: SourceMap | undefined;
  try {
    const path = fileURLToPath(fileUrl);
    const code = readFileSync(path, 'utf8');
    const link = /\/\/# sourceMappingURL=([^\s'"]+)\s*$/.exec(code)?.[1];
    if (link && !link.startsWith('data:'))
      map = new SourceMap(JSON.parse(readFileSync(join(dirname(path), link), 'utf8')));
  } catch {
    map = undefined;
  }
  maps.set(fileUrl, map);
  return map;
}

const FRAME = /(file:\/\/[^\s()]+?\.m?js):(\d+):(\d+)/g;

/** This module's own file: in a Lambda, the bundle. Only its frames are mapped (no other file is read). */
const SELF = import.meta.url;

/** A stack with every position in the bundle replaced by its source position (`lambdas/x.ts:12:5`). */
export function mapStack(stack: string, bundle = SELF): string {
  return stack.replace(FRAME, (frame, url: string, line: string, column: string) => {
    if (url !== bundle) return frame;
    const entry = mapOf(url)?.findEntry(Number(line) - 1, Number(column) - 1);
    if (!entry || !('originalSource' in entry)) return frame;
    const source = entry.originalSource.replace(/^(\.\.?\/)+/, '');
    return `${source}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
  });
}

/** A middy middleware: an error leaving the handler carries a source-mapped stack. */
export function sourceMappedErrors(): { onError: (request: { error: unknown }) => void } {
  return {
    onError: (request) => {
      const err = request.error;
      if (err instanceof Error && typeof err.stack === 'string') err.stack = mapStack(err.stack);
    },
  };
}
