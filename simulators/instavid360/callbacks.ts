import { setTimeout as sleep } from 'node:timers/promises';
import { type Agent, request } from 'undici';
import { CALLBACK_USER_AGENT, LOOPBACK_HOSTS } from './assumptions.ts';

/** One POST the simulator made (or tried to make) to a task's callback_url. */
export interface CallbackAttempt {
  url: string;
  /** 1 for the first delivery, 2 for the injected duplicate. */
  attempt: number;
  duplicate: boolean;
  at: string;
  statusCode?: number;
  error?: string;
}

/** True only for http(s) URLs whose host is loopback: the only place the simulator will ever send a request. */
export function isLoopbackUrl(raw: string): boolean {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return false;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  return LOOPBACK_HOSTS.includes(url.hostname.toLowerCase());
}

/** Waits `ms` unless `signal` aborts first; answers false when aborted. */
export async function wait(ms: number, signal: AbortSignal): Promise<boolean> {
  if (ms <= 0) return !signal.aborted;
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

/**
 * POSTs `body` as JSON. Never throws: the outcome (status code or error) is written into the returned attempt.
 * Redirects are not followed (undici's default), so a loopback receiver cannot bounce the simulator elsewhere.
 */
export async function postCallback(
  dispatcher: Agent,
  url: string,
  body: string,
  timeoutMs: number,
  signal: AbortSignal,
  attempt: CallbackAttempt,
): Promise<CallbackAttempt> {
  if (!isLoopbackUrl(url)) {
    attempt.error = 'refused: non-loopback host';
    return attempt;
  }
  try {
    const res = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': CALLBACK_USER_AGENT },
      body,
      dispatcher,
      signal,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    await res.body.dump();
    attempt.statusCode = res.statusCode;
  } catch (err) {
    attempt.error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  }
  return attempt;
}
