/** The page's only way to the relay: the ops API on the same origin (`/v1/*`), FactoryTX's envelope unwrapped. */
import type { Envelope } from './types.ts';

export class ApiError extends Error {
  constructor(
    readonly code: string,
    readonly httpStatus: number,
    text: string,
  ) {
    super(text);
    this.name = 'ApiError';
  }
}

export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method: init.method ?? 'GET',
      headers: init.body === undefined ? {} : { 'content-type': 'application/json' },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    });
  } catch (err) {
    throw new ApiError('UNREACHABLE', 0, `the relay did not answer (${(err as Error).message})`);
  }
  const text = await res.text();
  let env: Envelope<T> | undefined;
  try {
    env = JSON.parse(text) as Envelope<T>;
  } catch {
    env = undefined;
  }
  if (!env || typeof env !== 'object' || !('success' in env)) {
    // API Gateway's own answers (403 unsigned, 404 no route, 503 timeout) carry no envelope.
    throw new ApiError(`HTTP_${res.status}`, res.status, text.slice(0, 200) || res.statusText);
  }
  if (!env.success || env.response === null)
    throw new ApiError(
      env.error?.code ?? `HTTP_${res.status}`,
      res.status,
      env.error?.text ?? 'request failed',
    );
  return env.response;
}

/** Every page of a listing, up to `cap` items; `truncated` when more were left. */
export async function listAll<T>(
  path: string,
  params: URLSearchParams,
  cap = 1000,
): Promise<{ items: T[]; truncated: boolean }> {
  const items: T[] = [];
  let next: string | undefined;
  do {
    const p = new URLSearchParams(params);
    p.set('limit', String(Math.min(500, cap - items.length)));
    if (next) p.set('next', next);
    const page = await api<{ items: T[]; next?: string }>(`${path}?${p}`);
    items.push(...page.items);
    next = page.next;
  } while (next && items.length < cap);
  return { items, truncated: next !== undefined };
}

/** Where the page reads an object's bytes: the server that serves the page proxies the read (ui/serve.ts). */
export function objectUrl(deliveryId: string, which: 'source' | 'result' = 'source'): string {
  return `object?delivery=${encodeURIComponent(deliveryId)}${which === 'result' ? '&result=1' : ''}`;
}
