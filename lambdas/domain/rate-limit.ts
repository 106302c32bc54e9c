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

export function gcra(limit: RateLimit, tat: number | undefined, now: number): Gcra {
  const interval = 1000 / limit.perSecond;
  const tolerance = (limit.burst - 1) * interval;
  const current = Math.max(tat ?? now, now);
  const earliest = current - tolerance;
  if (now < earliest) return { allowed: false, retryInMs: Math.ceil(earliest - now) };
  return { allowed: true, newTat: current + interval };
}
