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
import { Ajv2020 } from 'ajv/dist/2020.js';
import standalone from 'ajv/dist/standalone/index.js';
import type { BuildOptions } from 'esbuild';
import { ENV } from '../lambdas/commons/env.ts';
import { RELAY_CONFIG_SCHEMA } from '../lambdas/domain/config/schema.ts';
import { isDraft07, PLUGIN_AJV_OPTIONS, SHAPE_AJV_OPTIONS } from '../lambdas/domain/config/validators.ts';
import { FIELDS_AJV_OPTIONS, type FieldsSchemaOwner } from '../lambdas/vendors/fields-validators.ts';
import { VENDORS } from '../lambdas/vendors/registry.ts';
import { BUNDLE_TARGET, ESM_REQUIRE_SHIM } from './defaults.ts';

/** esbuild conditions: the bundle's own first (`#fields-validators`), then esbuild's default `module`. */
export const BUNDLE_CONDITIONS = ['relay-bundle', 'module'] as const;

/** Where the precompiled config validators are written (package.json `imports`, condition `relay-bundle`). */
export const CONFIG_VALIDATORS_FILE = '.build/config-validators.mjs';

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
  return [
    '// Generated by lib/bundling.ts from the plug-ins of lambdas/vendors/registry.ts at each bundling. Do not edit.',
    standaloneEsm(ajv, exports, 'ajvRuntime'),
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
  return writeGenerated(
    projectRoot,
    FIELD_VALIDATORS_FILE.replace(/^\.build\//, ''),
    fieldValidatorsSource(),
  );
}

/**
 * ajv standalone ESM code whose runtime-helper `require`s are made imports named `${prefix}N`: ajv's standalone
 * code `require`s its small runtime helpers even as ESM, so the module loads as ESM anywhere and esbuild bundles
 * the helpers.
 */
function standaloneEsm(ajv: Ajv, exports: Record<string, string>, prefix: string): string {
  const helpers: string[] = [];
  const code = standalone
    .default(ajv, exports)
    .replace(/require\("(ajv\/dist\/runtime\/[\w-]+)"\)/g, (_all, path: string) => {
      if (!helpers.includes(path)) helpers.push(path);
      return `${prefix}${helpers.indexOf(path)}`;
    });
  return [
    ...helpers.map((path, i) => `import ${prefix}${i} from ${JSON.stringify(`${path}.js`)};`),
    code,
  ].join('\n');
}

/**
 * The precompiled config validators (lambdas/domain/config/validators.ts's bundle form): the config's shape and
 * every registered plug-in's optionsSchema, each compiled by an ajv of the source form's options. Three modules
 * (one per ajv instance: their standalone code declares the same names) and an index.
 */
export function configValidatorsSources(
  vendors: Readonly<Record<string, { id: string; optionsSchema: Record<string, unknown> }>> = VENDORS,
): Record<string, string> {
  const shapeAjv = new Ajv({ ...SHAPE_AJV_OPTIONS, code: { source: true, esm: true } });
  shapeAjv.addSchema(RELAY_CONFIG_SCHEMA, 'relay-config');
  const a2020 = new Ajv2020({ ...PLUGIN_AJV_OPTIONS, code: { source: true, esm: true } });
  const a07 = new Ajv({ ...PLUGIN_AJV_OPTIONS, code: { source: true, esm: true } });
  const ids = Object.keys(vendors).sort();
  const in2020: Record<string, string> = {};
  const in07: Record<string, string> = {};
  ids.forEach((id, i) => {
    const schema = vendors[id]?.optionsSchema ?? {};
    const draft07 = isDraft07(schema);
    (draft07 ? a07 : a2020).addSchema(schema, id);
    (draft07 ? in07 : in2020)[`options${i}`] = id;
  });
  const byId = ids
    .map((id, i) => `${JSON.stringify(id)}: ${`options${i}` in in07 ? 'd07' : 'd2020'}.options${i}`)
    .join(', ');
  const header = '// Generated by lib/bundling.ts at each bundling. Do not edit.';
  return {
    'config-validators/shape.mjs': `${header}\n${standaloneEsm(shapeAjv, { shape: 'relay-config' }, 'ajvRuntime')}\n`,
    'config-validators/options-2020.mjs': `${header}\n${Object.keys(in2020).length ? standaloneEsm(a2020, in2020, 'ajvRuntime') : ''}\n`,
    'config-validators/options-07.mjs': `${header}\n${Object.keys(in07).length ? standaloneEsm(a07, in07, 'ajvRuntime') : ''}\n`,
    'config-validators.mjs': [
      header,
      "import { shape } from './config-validators/shape.mjs';",
      "import * as d2020 from './config-validators/options-2020.mjs';",
      "import * as d07 from './config-validators/options-07.mjs';",
      `const BY_ID = { ${byId} };`,
      'export function shapeValidator() { return shape; }',
      'export function optionsValidator(plugin) {',
      '  const v = Object.hasOwn(BY_ID, plugin.id) ? BY_ID[plugin.id] : undefined;',
      `  if (!v) throw new Error('no precompiled options validator for plug-in ' + JSON.stringify(plugin.id) + ': bundle again');`,
      '  return v;',
      '}',
      '',
    ].join('\n'),
  };
}

/** Writes a generated file under `.build/` only when its text changed, atomically. */
function writeGenerated(projectRoot: string, relative: string, text: string): string {
  const file = join(projectRoot, '.build', relative);
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

/** Writes CONFIG_VALIDATORS_FILE (and its three modules) under `projectRoot`. */
export function writeConfigValidators(projectRoot: string): string {
  const sources = configValidatorsSources();
  for (const [relative, text] of Object.entries(sources)) writeGenerated(projectRoot, relative, text);
  return join(projectRoot, CONFIG_VALIDATORS_FILE);
}

/** Every generated module a bundle resolves through the `relay-bundle` condition. */
export function writeBundleValidators(projectRoot: string): void {
  writeFieldValidators(projectRoot);
  writeConfigValidators(projectRoot);
}
