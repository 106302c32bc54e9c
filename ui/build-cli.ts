/** `npm run build:ui`: writes the ops page to ui/dist/ (to look at or host elsewhere) and prints its size. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildPage, UI_DIR } from './build.ts';

const out = join(UI_DIR, 'dist');
mkdirSync(out, { recursive: true });
let raw = 0;
let gz = 0;
for (const [name, file] of await buildPage()) {
  writeFileSync(join(out, name), file.body);
  const z = gzipSync(file.body).length;
  raw += file.body.length;
  gz += z;
  console.log(`${name.padEnd(11)} ${String(file.body.length).padStart(7)} B  (${z} B gzipped)`);
}
console.log(`${'total'.padEnd(11)} ${String(raw).padStart(7)} B  (${gz} B gzipped)  → ${out}`);
