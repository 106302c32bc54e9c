/**
 * The precompiled field validators a bundle carries (lib/bundling.ts → `.build/fields-validators.mjs`, resolved
 * by the `relay-bundle` condition of `#fields-validators`) answer as the source form does (ajv compiling each
 * plug-in's fieldsSchema at run time, lambdas/vendors/fields-validators.ts): same verdict, same errors, for
 * every registered plug-in, on valid fields and on fields broken in every property.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { FieldsSchemaOwner, FieldsValidator } from '../../lambdas/vendors/fields-validators.ts';
import { fieldsValidator } from '../../lambdas/vendors/fields-validators.ts';
import { VENDORS } from '../../lambdas/vendors/registry.ts';
import { writeFieldValidators } from '../../lib/bundling.ts';
import { PROJECT_ROOT } from '../../lib/factory-relay-stack.ts';
import { cases } from './schema-samples.ts';

const errorsOf = (v: FieldsValidator) =>
  (v.errors ?? []).map((e) => ({
    keyword: e.keyword,
    instancePath: e.instancePath,
    params: e.params,
    message: e.message,
  }));

describe('precompiled field validators', () => {
  it('give the verdicts and errors of ajv compiling each plug-in schema at run time', async () => {
    const file = writeFieldValidators(PROJECT_ROOT);
    const generated = (await import(pathToFileURL(file).href)) as {
      fieldsValidator(plugin: FieldsSchemaOwner): FieldsValidator;
    };
    assert.ok(Object.keys(VENDORS).length > 0);
    for (const plugin of Object.values(VENDORS)) {
      const compiled = generated.fieldsValidator(plugin);
      const source = fieldsValidator(plugin);
      const inputs = cases(plugin.fieldsSchema);
      let valid = 0;
      for (const input of inputs) {
        const ok = compiled(input);
        assert.equal(ok, source(input), `${plugin.id}: ${JSON.stringify(input)}`);
        assert.deepEqual(errorsOf(compiled), errorsOf(source), `${plugin.id}: ${JSON.stringify(input)}`);
        if (ok) valid++;
      }
      assert.ok(valid > 0 && valid < inputs.length, `${plugin.id}: both verdicts were exercised`);
    }
    assert.throws(
      () => generated.fieldsValidator({ id: 'not-registered', fieldsSchema: {} }),
      /bundle again/,
    );
  });
});
