/**
 * A destination's name as a CloudWatch dimension value. CloudWatch takes only ASCII dimension values of at
 * most 1024 characters: an alarm on any other value fails to create (AWS::CloudWatch::Alarm), and an EMF line
 * carrying one is dropped. The config allows any non-blank `transmit_name` ("Prüfstand Linie 1 → QS"), so
 * both sides — the EMF metrics the functions write (metrics.ts) and the alarms and dashboard that read them
 * (lib/constructs/ops-monitoring.ts) — map a name through this ONE function, and so always agree.
 */
import { createHash } from 'node:crypto';

/** A name of printable ASCII up to this long is its own dimension value. */
export const MAX_PLAIN_DIMENSION_LENGTH = 250;
/** Characters of the ASCII rendering kept before the hash suffix. */
const RENDERING_LENGTH = 200;
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/** Hex characters of a name's SHA-256 in the suffix: 40 bits, no collision among a config's names. */
const HASH_LENGTH = 10;

/**
 * The dimension value of a destination: the name itself when it is printable ASCII and at most
 * MAX_PLAIN_DIMENSION_LENGTH long; otherwise an ASCII rendering (NFKD with the diacritics dropped, any other
 * non-ASCII or control character `_`, cut to 200) plus `~` and a hash of the whole name, so two names that
 * render alike ("Prüfstand" and "Prufstand~…", "A→B" and "A←B") still get two values. Stable: the same
 * name gives the same value in every function and every synth.
 */
export function destinationDimension(name: string): string {
  if (name.length <= MAX_PLAIN_DIMENSION_LENGTH && PRINTABLE_ASCII.test(name)) return name;
  const ascii = name
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .replace(/[^\x20-\x7e]/gu, '_')
    .slice(0, RENDERING_LENGTH);
  const hash = createHash('sha256').update(name, 'utf8').digest('hex').slice(0, HASH_LENGTH);
  return `${ascii}~${hash}`;
}
