/**
 * The config validators: the shape of a relay config (RELAY_CONFIG_SCHEMA) and each plug-in's `optionsSchema`.
 *
 * Two forms behind one import, `#config-validators` (package.json `imports`), as `#fields-validators`:
 * - this file, the `default` condition (tests, the local stack, the CLI, `cdk synth`): ajv compiles each schema
 *   on first use;
 * - in a Lambda bundle, the `relay-bundle` condition: `.build/config-validators.mjs`, ajv's standalone code
 *   generated with the same options at each bundling (lib/bundling.ts). The ops API validates the configs
 *   operators save without carrying ajv's compiler. test/cdk/config-validators.test.ts checks that both forms
 *   give the same verdicts and errors.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { JsonSchema } from '#vendors/types.ts';
import { RELAY_CONFIG_SCHEMA } from './schema.ts';

/** The options of the shape's ajv (draft-07, strict: the schema is ours). */
export const SHAPE_AJV_OPTIONS = { allErrors: true, strict: true, verbose: true } as const;

/** Plug-in schemas are written by vendor authors: lenient (unknown keywords/formats ignored, no console output). */
export const PLUGIN_AJV_OPTIONS = {
  allErrors: true,
  strict: false,
  validateSchema: false,
  logger: false,
  verbose: true,
} as const;

/** Whether a plug-in schema is draft-07 (else draft 2020-12). */
export const isDraft07 = (schema: JsonSchema): boolean =>
  typeof schema.$schema === 'string' && schema.$schema.includes('draft-07');

/** What the validator is looked up by: a plug-in's id and its options schema. */
export interface OptionsSchemaOwner {
  readonly id: string;
  readonly optionsSchema: JsonSchema;
}

let shape: ValidateFunction | undefined;

/** The validator of a whole relay config's shape. */
export function shapeValidator(): ValidateFunction {
  shape ??= new Ajv(SHAPE_AJV_OPTIONS).compile(RELAY_CONFIG_SCHEMA);
  return shape;
}

const ajv2020 = new Ajv2020(PLUGIN_AJV_OPTIONS);
const ajv07 = new Ajv(PLUGIN_AJV_OPTIONS);
const compiled = new WeakMap<object, ValidateFunction>();

/** The validator of `plugin.optionsSchema` (compiled once per schema object). */
export function optionsValidator(plugin: OptionsSchemaOwner): ValidateFunction {
  let v = compiled.get(plugin.optionsSchema);
  if (!v) {
    v = (isDraft07(plugin.optionsSchema) ? ajv07 : ajv2020).compile(plugin.optionsSchema);
    compiled.set(plugin.optionsSchema, v);
  }
  return v;
}
