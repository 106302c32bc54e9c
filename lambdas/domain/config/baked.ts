/**
 * The config as a Lambda reads it: JSON text that was loaded, `${VAR}`-interpolated and validated before it got
 * here — at synth (bin/factory-relay.ts bakes it into the bundle, lib/constructs/relay-function.ts) or at the
 * local stack's start (local/stack.ts). No YAML parser and no schema validator reach a Lambda's bundle: this
 * module imports nothing but types.
 *
 * One cheap structural guard stays (a few property checks, microseconds): a bundle built or started by hand
 * with some other JSON (an unvalidated file, a config for another version) fails at its cold start with a
 * message that says so, instead of a TypeError deep inside routing on the first file. It checks only what every
 * handler dereferences before anything else, and that each destination's `transmit_type` is a plug-in of this
 * build: the rules themselves were checked where the config was validated.
 */
import type { RelayConfig } from './types.ts';

/** The baked config is not what a validated config looks like. */
export class BakedConfigError extends Error {
  constructor(problem: string, source: string) {
    super(`${source} is not a relay config validated at synth: ${problem}`);
    this.name = 'BakedConfigError';
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Parses a baked config. `vendorIds` are the plug-ins this build has; `source` names where the text came from,
 * for the message. Throws BakedConfigError.
 */
export function readBakedConfig(text: string, vendorIds: readonly string[], source: string): RelayConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new BakedConfigError(`not JSON (${(err as Error).message})`, source);
  }
  if (!isObject(value)) throw new BakedConfigError('not a JSON object', source);
  if (value.version !== 1)
    throw new BakedConfigError(`version ${JSON.stringify(value.version)}, not 1`, source);
  const receivers = value.data_receiver;
  if (!Array.isArray(receivers) || !receivers.every((r) => isObject(r) && Array.isArray(r.streams)))
    throw new BakedConfigError('data_receiver is not a list of receivers with streams', source);
  const transmits = value.data_transmit;
  if (!Array.isArray(transmits)) throw new BakedConfigError('data_transmit is not a list', source);
  for (const [i, t] of transmits.entries()) {
    if (!isObject(t) || typeof t.transmit_name !== 'string' || typeof t.transmit_type !== 'string')
      throw new BakedConfigError(`data_transmit[${i}] has no transmit_name or transmit_type`, source);
    if (!vendorIds.includes(t.transmit_type))
      throw new BakedConfigError(
        `data_transmit[${i}].transmit_type "${t.transmit_type}" is not a plug-in of this build (${vendorIds.join(', ')})`,
        source,
      );
  }
  return value as unknown as RelayConfig;
}
