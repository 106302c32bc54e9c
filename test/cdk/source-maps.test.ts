/**
 * A bundle built with the relay's settings (lib/bundling.ts: minified, linked source map, no
 * --enable-source-maps) reports an error that leaves a handler at its TypeScript line: the map is read only then.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { mapStack } from '../../lambdas/handlers/source-maps.ts';
import { esbuildOptions, writeBundleValidators } from '../../lib/bundling.ts';
import { PROJECT_ROOT } from '../../lib/factory-relay-stack.ts';

const dir = mkdtempSync(join(tmpdir(), 'factory-relay-maps-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('source maps without --enable-source-maps', () => {
  it('an error leaving a handler names the TypeScript file and line; other frames are left alone', async () => {
    writeBundleValidators(PROJECT_ROOT);
    const outfile = join(dir, 'index.mjs');
    const entry = join(PROJECT_ROOT, 'test/cdk/fixtures/throwing-handler.ts');
    await build({ ...esbuildOptions(entry, outfile, '{"version":1}', PROJECT_ROOT), logLevel: 'error' });
    // A child without tsx (which turns source maps on for the whole process) and without flags, as on Lambda.
    const script = `const m = await import(${JSON.stringify(pathToFileURL(outfile).href)});
      const stack = async (f) => { try { await f({}, {}); } catch (e) { return { message: e.message, stack: e.stack }; } };
      console.log(JSON.stringify({ raw: await stack(m.unmapped), mapped: await stack(m.handler) }));`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(child.status, 0, child.stderr);
    const { raw, mapped } = JSON.parse(child.stdout) as Record<
      'raw' | 'mapped',
      { message: string; stack: string }
    >;

    assert.match(raw.stack, /index\.mjs:\d+:\d+/, 'without the middleware: minified positions');
    assert.doesNotMatch(raw.stack, /throwing-handler\.ts/);
    assert.equal(mapped.message, 'thrown in the fixture');
    assert.match(mapped.stack, /test\/cdk\/fixtures\/throwing-handler\.ts:6:9/, mapped.stack);
    assert.doesNotMatch(mapped.stack, /index\.mjs:\d+:/, 'every bundle frame is mapped');
    const elsewhere = 'at f (file:///nowhere/x.mjs:1:2)';
    assert.equal(mapStack(elsewhere), elsewhere);
    assert.equal(mapStack(elsewhere, 'file:///nowhere/x.mjs'), elsewhere, 'a file without a map stays');
  });
});
