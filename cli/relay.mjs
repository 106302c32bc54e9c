#!/usr/bin/env node
/**
 * The `relay` command (package.json "bin", so `npx relay <command>` works in a clone after `npm ci`).
 *
 * It runs cli/main.ts through tsx on the project's Node 22 (the `node` devDependency): `npx` puts
 * node_modules/.bin first on PATH, so `env node` is already Node 22 there; started any other way (a system
 * Node 20, `npx --prefix <clone>` from another folder, the file's path) it runs itself again with
 * node_modules/node/bin/node. Plain JavaScript on purpose: it must start before tsx is loaded.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const NEEDS_MAJOR = 22;
const major = Number(process.versions.node.split('.')[0]);

if (major < NEEDS_MAJOR) {
  const projectNode = fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url));
  if (!existsSync(projectNode) || process.env.RELAY_CLI_REEXEC === '1') {
    process.stderr.write(
      `relay needs Node.js ${NEEDS_MAJOR} or later (this is ${process.version}); run \`npm ci\` in the project first, it installs Node ${NEEDS_MAJOR} as a dev dependency.\n`,
    );
    process.exit(2);
  }
  const run = spawnSync(projectNode, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, RELAY_CLI_REEXEC: '1' },
  });
  process.exit(run.status ?? 1);
} else {
  // tsx is resolved from this file's folder, so the command works from any working directory.
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import('./main.ts');
  process.exitCode = await main(process.argv.slice(2));
}
