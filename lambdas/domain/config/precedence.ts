/**
 * Which config a Lambda uses: the one baked in at deploy, or the newest version saved through the ops API.
 *
 * The rule: **a deploy that changes the config wins; a deploy that does not keeps the operators' saved one.**
 * Each saved version records `baseHash`, the hash of the baked config of the deploy it was saved on
 * (configHash). The newest saved version is used only when its `baseHash` is this bundle's baked hash; else
 * the baked config is in use and the saved versions stay in history (`{"rollback": N}` saves one again on
 * top of this deploy, so it applies). A version without `baseHash` (saved before versions recorded it) belongs
 * to no known deploy: it is never used as it is, only through a rollback.
 *
 * Pure: the handlers' runtime (lambdas/handlers/runtime.ts) applies it, the ops API (domain/ops/config.ts)
 * records `baseHash` and reports it.
 */
import { createHash } from 'node:crypto';

/** JSON with every object's keys sorted: the same value gives the same text, whatever its key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}

/** SHA-256 (hex) of a config's canonical JSON: the identity of a deploy's baked config. */
export function configHash(config: unknown): string {
  return createHash('sha256').update(canonicalJson(config)).digest('hex');
}

/** What the rule needs of a saved version. */
export interface SavedConfigRef {
  version: number;
  /** configHash of the baked config it was saved on; absent on versions saved before it was recorded. */
  baseHash?: string;
}

/** True when the newest saved version was saved on this deploy's baked config, so it is the one to use. */
export function savedConfigApplies(newest: SavedConfigRef, bakedHash: string): boolean {
  return newest.baseHash !== undefined && newest.baseHash === bakedHash;
}
