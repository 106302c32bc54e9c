/**
 * A token bucket ("burst B, refilled at R per second") expressed as GCRA: the state is one number, the
 * theoretical arrival time (TAT), so that every concurrent forwarder can share it through a single
 * conditional write. Pure math; the DynamoDB adapter stores the TAT.
 *
 * A request at `now` conforms when TAT - now <= (B - 1) * T, where T = 1000 / R ms. Taking it sets
 * TAT = max(TAT, now) + T. This admits exactly B requests at once after idling, then one every T ms.
 */
export interface RateLimit {
  burst: number;
  perSecond: number;
}

export type Gcra = { allowed: true; newTat: number } | { allowed: false; retryInMs: number };

export function gcra(limit: RateLimit, tat: number | undefined, now: number, n = 1): Gcra {
  const interval = 1000 / limit.perSecond;
  const take = Math.max(1, Math.min(Math.floor(n), limit.burst));
  // n tokens at once conform when n single takes in a row would: TAT - now <= (B - n) * T.
  const tolerance = (limit.burst - take) * interval;
  const current = Math.max(tat ?? now, now);
  const earliest = current - tolerance;
  if (now < earliest) return { allowed: false, retryInMs: Math.ceil(earliest - now) };
  return { allowed: true, newTat: current + take * interval };
}

/**
 * How many tokens one shared-bucket write takes for a caller that plans `planned` more requests: a block, so
 * that concurrent Lambdas write the bucket item a few times per batch rather than once per request (each write
 * is billed, and each race costs a failed conditional write), but never more than a quarter of the burst, so
 * one caller cannot starve the others.
 */
export function tokenBlock(limit: RateLimit, planned: number): number {
  return Math.max(1, Math.min(Math.floor(planned), Math.max(1, Math.floor(limit.burst / 4))));
}
