/**
 * The precompiled config validators a bundle carries (lib/bundling.ts → `.build/config-validators.mjs`, resolved
 * by the `relay-bundle` condition of `#config-validators`) answer as the source form does (ajv compiling at run
 * time, lambdas/domain/config/validators.ts): same verdict, same errors, for the config's shape (the example
 * config, and copies broken in each property of the config, a stream and a transmit) and for every registered
 * plug-in's options.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { ValidateFunction } from 'ajv';
import { loadConfigFile } from '../../lambdas/domain/config/load.ts';
import {
  type OptionsSchemaOwner,
  optionsValidator,
  shapeValidator,
} from '../../lambdas/domain/config/validators.ts';
import { VENDORS } from '../../lambdas/vendors/registry.ts';
import { bakeConfigJson, DEFAULT_CONFIG_PATH } from '../../lib/app.ts';
import { writeConfigValidators } from '../../lib/bundling.ts';
import { PROJECT_ROOT } from '../../lib/factory-relay-stack.ts';
import { cases } from './schema-samples.ts';

interface Generated {
  shapeValidator(): ValidateFunction;
  optionsValidator(plugin: OptionsSchemaOwner): ValidateFunction;
}

const errorsOf = (v: ValidateFunction) =>
  (v.errors ?? []).map((e) => ({
    keyword: e.keyword,
    instancePath: e.instancePath,
    schemaPath: e.schemaPath,
    params: e.params,
    message: e.message,
  }));

const BAD = ['', 1, true, null, [], [1], {}, { x: 1 }, 'x'.repeat(3)];

/** Copies of `base` with `obj` (found by `at` in each copy) given a bad value in each of its properties. */
function broken(
  base: Record<string, unknown>,
  at: (copy: Record<string, unknown>) => Record<string, unknown>,
) {
  const out: unknown[] = [];
  for (const key of Object.keys(at(base)))
    for (const bad of BAD) {
      const copy = structuredClone(base);
      at(copy)[key] = bad;
      out.push(copy);
    }
  return out;
}

function same(compiled: ValidateFunction, source: ValidateFunction, input: unknown, what: string): boolean {
  const ok = compiled(input);
  assert.equal(ok, source(input), what);
  assert.deepEqual(errorsOf(compiled), errorsOf(source), what);
  return ok;
}

describe('precompiled config validators', async () => {
  const generated = (await import(pathToFileURL(writeConfigValidators(PROJECT_ROOT)).href)) as Generated;

  it("give the verdicts and errors of ajv compiling the config's shape at run time", () => {
    const { config } = loadConfigFile(join(PROJECT_ROOT, DEFAULT_CONFIG_PATH), VENDORS);
    const base = JSON.parse(bakeConfigJson(config)) as Record<string, unknown>;
    const first = (name: string) => (c: Record<string, unknown>) =>
      (c[name] as Array<Record<string, unknown>>)[0] as Record<string, unknown>;
    const inputs = [
      base,
      {},
      [],
      'text',
      null,
      ...broken(base, (c) => c),
      ...broken(base, first('data_receiver')),
      ...broken(base, first('data_transmit')),
    ];
    let valid = 0;
    for (const [i, input] of inputs.entries())
      if (same(generated.shapeValidator(), shapeValidator(), input, `shape case ${i}`)) valid++;
    assert.ok(valid > 0 && valid < inputs.length, 'both verdicts were exercised');
  });

  it("give the verdicts and errors of ajv compiling each plug-in's options schema at run time", () => {
    assert.ok(Object.keys(VENDORS).length > 0);
    let validAnywhere = 0;
    for (const plugin of Object.values(VENDORS)) {
      const inputs = cases(plugin.optionsSchema);
      let valid = 0;
      for (const input of inputs)
        if (
          same(
            generated.optionsValidator(plugin),
            optionsValidator(plugin),
            input,
            `${plugin.id}: ${JSON.stringify(input)}`,
          )
        )
          valid++;
      assert.ok(valid < inputs.length, `${plugin.id}: refusals were compared`);
      validAnywhere += valid;
    }
    // The sampler builds a valid object from a schema's own declarations; not every schema yields one.
    assert.ok(validAnywhere > 0, 'acceptances were compared');
    assert.throws(
      () => generated.optionsValidator({ id: 'not-registered', optionsSchema: {} }),
      /bundle again/,
    );
  });
});
