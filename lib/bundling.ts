/**
 * How a relay Lambda is bundled. One set of esbuild settings for the CDK construct (NodejsFunction, which runs
 * the esbuild CLI: lib/constructs/relay-function.ts) and for `npm run bench` (esbuild's JS API:
 * bench/bundles.ts), so that the bench measures what is deployed.
 *
 * Besides ESM, minified, node22, no externals, the config baked in (define + banner) and a `require` shim:
 * - conditions `relay-bundle,module`: `#fields-validators` (package.json `imports`) resolves to the generated,
 *   precompiled validators (`.build/fields-validators.mjs`, written by writeFieldValidators before each
 *   bundling), never to the ajv compiler;
 * - `esbuildDetection`: undici's switch for builds like Node's own (as Node core bundles it): its experimental
 *   Milo HTTP parser (two WASM builds, ~150 KiB) is left out; the llhttp parser Node itself uses stays;
 * - externals (BUNDLE_EXTERNALS): two parts of undici the relay never runs, left out;
 * - no AWS SDK: the Lambdas talk to AWS through lambdas/adapters/aws (SigV4 by `aws4`, Node's https);
 * - a linked source map beside the code, and no `--enable-source-maps`: a stack is mapped only when an error
 *   leaves a handler (lambdas/handlers/source-maps.ts), so cold starts do not parse the map.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Ajv } from 'ajv';
import standalone from 'ajv/dist/standalone/index.js';
import type { BuildOptions } from 'esbuild';
import { ENV } from '../lambdas/commons/env.ts';
import { FIELDS_AJV_OPTIONS, type FieldsSchemaOwner } from '../lambdas/vendors/fields-validators.ts';
import { VENDORS } from '../lambdas/vendors/registry.ts';
import { BUNDLE_TARGET, ESM_REQUIRE_SHIM } from './defaults.ts';

/** esbuild conditions: the bundle's own first (`#fields-validators`), then esbuild's default `module`. */
export const BUNDLE_CONDITIONS = ['relay-bundle', 'module'] as const;

/** Where the precompiled field validators are written (package.json `imports`, condition `relay-bundle`). */
export const FIELD_VALIDATORS_FILE = '.build/fields-validators.mjs';

/**
 * Files left out of every bundle (esbuild `external`, matched on the resolved path), each reached only by a
 * lazy `require` the relay never makes; were one reached, it would fail loudly ("Cannot find module"):
 * - undici's llhttp parser built without WebAssembly SIMD (70 KiB): loaded only where SIMD is missing, and
 *   Node 22 on Lambda (arm64 and x86_64) has it;
 * - undici's WHATWG layer (`lib/web/`: fetch, FormData, WebIDL; 40 KiB): required only for a FormData body.
 *   The relay streams its own multipart bodies through undici's `request`/`stream` and never calls `fetch`.
 * test/cdk/bin.test.ts loads every bundle of a real synth; test/unit/bundle-externals.test.ts checks that
 * the relay's sends never reach these files.
 */
export const BUNDLE_EXTERNALS: readonly string[] = [
  // esbuild matches a pattern with `*` against the import path as written in undici's source (one `*` each).
  '*/llhttp/llhttp-wasm.js',
  // The three doors into lib/web/ (core/request.js, client-h1.js, client-h2.js).
  '*/web/fetch/formdata',
  '*/web/webidl',
  '*/web/fetch/body.js',
];

/** The config as a JavaScript string literal (what define and the banner insert). */
const literal = (configJson: string) => JSON.stringify(configJson);

export function bundleDefine(configJson: string): Record<string, string> {
  return { [`process.env.${ENV.configJson}`]: literal(configJson), esbuildDetection: 'true' };
}

export function bundleBanner(configJson: string): string {
  return `${ESM_REQUIRE_SHIM} process.env.${ENV.configJson} = ${literal(configJson)};`;
}

/** The settings as esbuild's JS API takes them (bench/bundles.ts); NodejsFunction gets the same ones. */
export function esbuildOptions(
  entry: string,
  outfile: string,
  configJson: string,
  projectRoot: string,
): BuildOptions {
  return {
    absWorkingDir: projectRoot,
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: BUNDLE_TARGET,
    minify: true,
    treeShaking: true,
    sourcemap: 'linked',
    sourcesContent: false,
    mainFields: ['module', 'main'],
    conditions: [...BUNDLE_CONDITIONS],
    external: [...BUNDLE_EXTERNALS],
    banner: { js: bundleBanner(configJson) },
    define: bundleDefine(configJson),
  };
}

/** The NodejsFunction-only spelling of what esbuildOptions sets and NodejsFunction has no property for. */
export function esbuildCliArgs(): Record<string, string | string[]> {
  return {
    '--conditions': BUNDLE_CONDITIONS.join(','),
  };
}

/**
 * The precompiled validators module: ajv's standalone code of every plug-in's fieldsSchema, compiled with the
 * options of the source form (lambdas/vendors/fields-validators.ts), and the same `fieldsValidator(plugin)`.
 */
export function fieldValidatorsSource(
  vendors: Readonly<Record<string, FieldsSchemaOwner>> = VENDORS,
): string {
  const ajv = new Ajv({ ...FIELDS_AJV_OPTIONS, code: { source: true, esm: true } });
  const exports: Record<string, string> = {};
  const ids = Object.keys(vendors).sort();
  ids.forEach((id, i) => {
    ajv.addSchema(vendors[id]?.fieldsSchema ?? {}, id);
    exports[`fields${i}`] = id;
  });
  const byId = ids.map((id, i) => `${JSON.stringify(id)}: fields${i}`).join(', ');
  // ajv's standalone code `require`s its small runtime helpers even as ESM: make those imports, so the module
  // loads as ESM anywhere and esbuild bundles the helpers.
  const helpers: string[] = [];
  const code = standalone
    .default(ajv, exports)
    .replace(/require\("(ajv\/dist\/runtime\/[\w-]+)"\)/g, (_all, path: string) => {
      if (!helpers.includes(path)) helpers.push(path);
      return `ajvRuntime${helpers.indexOf(path)}`;
    });
  return [
    '// Generated by lib/bundling.ts from the plug-ins of lambdas/vendors/registry.ts at each bundling. Do not edit.',
    ...helpers.map((path, i) => `import ajvRuntime${i} from ${JSON.stringify(`${path}.js`)};`),
    code,
    `const BY_ID = { ${byId} };`,
    'export function fieldsValidator(plugin) {',
    '  const v = Object.hasOwn(BY_ID, plugin.id) ? BY_ID[plugin.id] : undefined;',
    `  if (!v) throw new Error('no precompiled fields validator for plug-in ' + JSON.stringify(plugin.id) + ': bundle again');`,
    '  return v;',
    '}',
    '',
  ].join('\n');
}

/** Writes FIELD_VALIDATORS_FILE under `projectRoot` (only when its text changed; atomically). */
export function writeFieldValidators(projectRoot: string): string {
  const file = join(projectRoot, FIELD_VALIDATORS_FILE);
  const text = fieldValidatorsSource();
  let current: string | undefined;
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    current = undefined;
  }
  if (current !== text) {
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  }
  return file;
}
