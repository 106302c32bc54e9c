/** Inputs for checking a precompiled validator against the source form: valid ones and ones broken everywhere. */
import type { JsonSchema } from '../../lambdas/vendors/types.ts';

/** A value of the schema's shape, built from its own declarations (enough for required/type/minLength). */
export function sample(schema: JsonSchema | undefined): unknown {
  if (!schema || typeof schema !== 'object') return 'x';
  if (schema.const !== undefined) return schema.const;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  switch (schema.type) {
    case 'object': {
      const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
      const required = (schema.required ?? []) as string[];
      return Object.fromEntries(required.map((k) => [k, sample(props[k])]));
    }
    case 'array':
      return [];
    case 'integer':
    case 'number':
      return 1;
    case 'boolean':
      return true;
    default:
      return 'value';
  }
}

/** The sample, and copies with one property (any declared one) set to a value of every other kind. */
export function cases(schema: JsonSchema): unknown[] {
  const base = sample(schema) as Record<string, unknown>;
  const out: unknown[] = [base, {}, [], 'text', null, 1, { ...base, notAField: 'x' }];
  for (const key of Object.keys((schema.properties ?? {}) as object))
    for (const bad of ['', 1, true, null, [], [1], {}, { x: 1 }, 'x'.repeat(3)])
      out.push({ ...base, [key]: bad });
  return out;
}
