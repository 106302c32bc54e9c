/**
 * The validator of a plug-in's `fieldsSchema`, which the router runs on every destination's rendered fields.
 *
 * Two forms behind one import, `#fields-validators` (package.json `imports`):
 * - this file, the `default` condition (tests, the local stack, anything run from source): ajv compiles each
 *   schema on first use;
 * - in a Lambda bundle, the `relay-bundle` condition: `.build/fields-validators.mjs`, ajv's standalone code
 *   generated from every plug-in of lambdas/vendors/registry.ts at each bundling, with the same options
 *   (lib/bundling.ts). A bundle compiles no schema and carries no ajv compiler.
 * test/cdk/fields-validators.test.ts checks that both forms give the same verdicts and the same errors.
 */
import { Ajv } from 'ajv';
import type { JsonSchema } from './types.ts';

/** The ajv options of both forms. */
export const FIELDS_AJV_OPTIONS = { allErrors: true, strict: false } as const;

/** What the router reads of an error (a subset of ajv's ErrorObject). */
export interface FieldsError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

export interface FieldsValidator {
  (data: unknown): boolean;
  errors?: FieldsError[] | null;
}

/** What the validator is looked up by: a plug-in's id and its schema. */
export interface FieldsSchemaOwner {
  readonly id: string;
  readonly fieldsSchema: JsonSchema;
}

const ajv = new Ajv(FIELDS_AJV_OPTIONS);
const compiled = new WeakMap<JsonSchema, FieldsValidator>();

/** The validator of `plugin.fieldsSchema` (compiled once per schema object). */
export function fieldsValidator(plugin: FieldsSchemaOwner): FieldsValidator {
  let v = compiled.get(plugin.fieldsSchema);
  if (!v) {
    v = ajv.compile(plugin.fieldsSchema) as FieldsValidator;
    compiled.set(plugin.fieldsSchema, v);
  }
  return v;
}
