/**
 * Section 4: the minified bundle of each Lambda, built with esbuild's JS API and the options CDK's
 * NodejsFunction passes to the esbuild CLI for the relay (lib/constructs/relay-function.ts, lib/defaults.ts):
 * bundle, platform node, format esm, target node22, minify, linked source map without sources,
 * mainFields module,main, no externals, the ESM `require` shim + config banner, and `define` of the config.
 * The `#` imports resolve through package.json `imports` (esbuild reads them from the project root).
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { ENV } from '#commons/env.ts';
import { loadConfigFile } from '#domain/config/index.ts';
import { VENDORS } from '#vendors/registry.ts';
import { bakeConfigJson, DEFAULT_CONFIG_PATH } from '../lib/app.ts';
import { BUNDLE_TARGET, ESM_REQUIRE_SHIM } from '../lib/defaults.ts';

/** The handler entries of lib/factory-relay-stack.ts (`lambdas/handlers/<name>.ts`). */
export const HANDLERS = ['router', 'forwarder', 'poller', 'callback'] as const;

export interface BundleSize {
  name: string;
  rawBytes: number;
  gzipBytes: number;
  mapBytes: number;
  inputs: number;
  buildMs: number;
}

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

export async function measureBundles(): Promise<{
  sizes: BundleSize[];
  configPath: string;
  configBytes: number;
}> {
  const { config } = loadConfigFile(join(PROJECT_ROOT, DEFAULT_CONFIG_PATH), VENDORS);
  const configJson = bakeConfigJson(config);
  const configLiteral = JSON.stringify(configJson);
  const dir = await mkdtemp(join(tmpdir(), 'factory-relay-bench-'));
  try {
    const sizes: BundleSize[] = [];
    for (const name of HANDLERS) {
      const outfile = join(dir, name, 'index.mjs');
      const t0 = performance.now();
      const result = await build({
        absWorkingDir: PROJECT_ROOT,
        entryPoints: [join(PROJECT_ROOT, 'lambdas/handlers', `${name}.ts`)],
        outfile,
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: BUNDLE_TARGET,
        minify: true,
        treeShaking: true,
        sourcemap: true,
        sourcesContent: false,
        mainFields: ['module', 'main'],
        banner: { js: `${ESM_REQUIRE_SHIM} process.env.${ENV.configJson} = ${configLiteral};` },
        define: { [`process.env.${ENV.configJson}`]: configLiteral },
        metafile: true,
        logLevel: 'error',
      });
      const buildMs = performance.now() - t0;
      const code = await readFile(outfile);
      sizes.push({
        name,
        rawBytes: code.length,
        gzipBytes: gzipSync(code, { level: 9 }).length,
        mapBytes: (await stat(`${outfile}.map`)).size,
        inputs: Object.keys(result.metafile.inputs).length,
        buildMs,
      });
    }
    return { sizes, configPath: DEFAULT_CONFIG_PATH, configBytes: Buffer.byteLength(configJson) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
