/**
 * Every vendor plug-in the relay knows, by `transmit_type`. Adding a vendor: one folder under lambdas/vendors/
 * and one line here.
 */
import { edgeImpulse } from './edge-impulse/index.ts';
import { instavid360 } from './instavid360/index.ts';
import { instrumental } from './instrumental/index.ts';
import type { VendorPlugin } from './types.ts';
import { v7Darwin } from './v7-darwin/index.ts';

export const VENDORS: Readonly<Record<string, VendorPlugin>> = {
  [instrumental.id]: instrumental,
  [instavid360.id]: instavid360,
  [v7Darwin.id]: v7Darwin,
  [edgeImpulse.id]: edgeImpulse,
};

export type VendorCatalog = Readonly<
  Record<string, Pick<VendorPlugin, 'id' | 'fieldsSchema' | 'optionsSchema' | 'inlineConfigFiles'>>
>;

export function getVendor(id: string): VendorPlugin {
  const plugin = VENDORS[id];
  if (!plugin) throw new Error(`unknown vendor "${id}"; known: ${Object.keys(VENDORS).join(', ')}`);
  return plugin;
}
