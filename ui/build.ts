/**
 * Builds the ops page with esbuild, in memory: ui/index.html, one minified ES module (ui/page/main.ts and what it
 * imports) and one minified stylesheet. No framework, no CDN: the three files are the whole page, so it works
 * offline. Built once per process on first request (≈ 50 ms); `npm run build:ui` writes them to ui/dist/ and
 * prints their sizes.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, transform } from 'esbuild';

export const UI_DIR = dirname(fileURLToPath(import.meta.url));

export interface PageFile {
  contentType: string;
  body: Buffer;
}

export type Page = ReadonlyMap<string, PageFile>;

let built: Promise<Page> | undefined;

async function buildOnce(): Promise<Page> {
  const [js, css, html] = await Promise.all([
    build({
      entryPoints: [join(UI_DIR, 'page/main.ts')],
      bundle: true,
      format: 'esm',
      target: 'es2022',
      minify: true,
      write: false,
      legalComments: 'none',
      logLevel: 'silent',
    }),
    readFile(join(UI_DIR, 'style.css'), 'utf8').then((text) =>
      transform(text, { loader: 'css', minify: true }),
    ),
    readFile(join(UI_DIR, 'index.html')),
  ]);
  return new Map<string, PageFile>([
    ['index.html', { contentType: 'text/html; charset=utf-8', body: html }],
    [
      'app.js',
      { contentType: 'text/javascript; charset=utf-8', body: Buffer.from(js.outputFiles[0]!.contents) },
    ],
    ['app.css', { contentType: 'text/css; charset=utf-8', body: Buffer.from(css.code) }],
  ]);
}

/** The page's files by name (index.html, app.js, app.css), built on first use. */
export function buildPage(): Promise<Page> {
  built ??= buildOnce().catch((err: unknown) => {
    built = undefined;
    throw err;
  });
  return built;
}
