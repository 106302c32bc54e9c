/**
 * Node 22 prints "ExperimentalWarning: SQLite is an experimental feature" the first time `node:sqlite` is loaded.
 * fauxqs imports it, and so does the local stack's own state (data-dir.ts, s3-hooks.ts): the warning is noise in
 * `npm start`. These helpers load a module with that one warning filtered; every other warning passes.
 */
import type * as NodeSqlite from 'node:sqlite';

export async function withoutSqliteWarning<T>(load: () => Promise<T>): Promise<T> {
  const original = process.emitWarning;
  const filtered = function (this: NodeJS.Process, warning: string | Error, ...rest: unknown[]) {
    const text = typeof warning === 'string' ? warning : warning.message;
    if (/SQLite is an experimental feature/.test(text)) return;
    return (original as (...a: unknown[]) => void).call(process, warning, ...rest);
  };
  process.emitWarning = filtered as typeof process.emitWarning;
  try {
    return await load();
  } finally {
    process.emitWarning = original;
  }
}

/** `node:sqlite`, without its ExperimentalWarning. */
export function loadSqlite(): Promise<typeof NodeSqlite> {
  return withoutSqliteWarning(() => import('node:sqlite'));
}
