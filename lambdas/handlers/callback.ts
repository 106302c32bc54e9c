/**
 * Vendor callback route (HTTP API: POST /callbacks/{vendor}/{token}). A callback is only a hint: the relay
 * never trusts its body. The token in the path is `<deliveryId>.<mac>` (domain/callback-token.ts): a token the
 * relay did not make is refused with 404 before anything is read. A valid one makes the relay re-query the
 * vendor for that one delivery — at most once per CALLBACK_RECHECK_MS per delivery, from the vendor's small
 * callback share of its rate limit (never forwarding's tokens) — and the record is written only when the
 * vendor's answer changed it. A callback for a delivery whose forwarder is still recording the vendor's
 * acceptance (SENDING) waits up to SENDING_WAIT_MS for it. The callback's body goes to the plug-in as an
 * untrusted hint (`callbackBody`). Never 5xx: a vendor must not retry junk, and a failed re-check is left to the
 * poller.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { errorMessage } from '#commons/errors.ts';
import { tryJson } from '#commons/http.ts';
import { verifyCallbackToken } from '#domain/callback-token.ts';
import { decodeDeliveryId } from '#domain/delivery.ts';
import { checkDeliveries } from '#domain/poll.ts';
import { isPollable } from '#domain/status.ts';
import { createVendorContext } from '#domain/vendor-context.ts';
import type { JsonValue } from '#vendors/types.ts';
import { refreshConfig } from './runtime.ts';
import { sourceMappedErrors } from './source-maps.ts';
import { vendorSide } from './vendor-runtime.ts';

/** A delivery is re-checked for callbacks at most this often (per function instance). */
export const CALLBACK_RECHECK_MS = 10_000;
/** How long a callback may wait for its share of the rate limit before leaving the check to the poller. */
const CALLBACK_BUDGET_MS = 5_000;
/** How long a callback for a delivery still SENDING waits for its acceptance to be recorded. */
export const SENDING_WAIT_MS = 3_000;
const SENDING_POLL_MS = 250;
/** A larger callback body is not read as a hint (the re-check still runs). */
export const CALLBACK_HINT_MAX_BYTES = 64 * 1024;

/** The callback's body as JSON (a hint for the plug-in, never trusted), or undefined. */
export function callbackBodyOf(event: APIGatewayProxyEventV2): JsonValue | undefined {
  if (!event.body) return undefined;
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  if (Buffer.byteLength(text, 'utf8') > CALLBACK_HINT_MAX_BYTES) return undefined;
  const value = tryJson(text);
  return value === undefined ? undefined : (value as JsonValue);
}

const json = (statusCode: number, body: unknown): APIGatewayProxyStructuredResultV2 => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});
const unknown = () => json(404, { error: 'unknown callback' });

const lastCheck = new Map<string, number>();

function recentlyChecked(deliveryId: string, now: number): boolean {
  const at = lastCheck.get(deliveryId);
  if (at !== undefined && now - at < CALLBACK_RECHECK_MS) return true;
  if (lastCheck.size > 10_000) lastCheck.clear();
  lastCheck.set(deliveryId, now);
  return false;
}

export async function onCallback(
  event: APIGatewayProxyEventV2,
  context: Context,
): Promise<APIGatewayProxyStructuredResultV2> {
  const { rt, vendorRuntime } = vendorSide();
  const log = rt.log.child({ fn: 'callback' });
  try {
    const vendorId = event.pathParameters?.vendor ?? '';
    const plugin = rt.vendors[vendorId];
    if (!plugin?.callback || !plugin.poll || !vendorRuntime.callbackSigningKey) return unknown();
    const deliveryId = verifyCallbackToken(
      await vendorRuntime.callbackSigningKey(),
      vendorId,
      event.pathParameters?.token ?? '',
    );
    const key = deliveryId ? decodeDeliveryId(deliveryId) : undefined;
    if (!deliveryId || !key) return unknown();
    if (recentlyChecked(deliveryId, Date.now())) return json(202, { accepted: true, checked: false });
    // The destination's settings come from the config in use, chosen as every handler chooses it.
    await refreshConfig(rt);
    let rec = await rt.table.get(key);
    if (!rec || rec.vendor !== vendorId) return unknown();
    // A fast task may call back while its forwarder is still recording the acceptance: wait for it a little.
    for (let waited = 0; rec?.status === 'SENDING' && waited < SENDING_WAIT_MS; waited += SENDING_POLL_MS) {
      await sleep(SENDING_POLL_MS);
      rec = await rt.table.get(key);
    }
    if (!rec) return unknown();
    const transmit = rt.config.data_transmit.find((t) => t.transmit_name === rec.destination);
    if (!transmit) return json(202, { accepted: true, checked: false });
    if (!isPollable(rec.status)) return json(200, { accepted: true, status: rec.status });
    const signal = AbortSignal.timeout(
      Math.min(CALLBACK_BUDGET_MS, Math.max(500, context.getRemainingTimeInMillis() - 1_000)),
    );
    // Always set in a callback's re-check (null when the body is not JSON): the plug-in knows who asks.
    const body = callbackBodyOf(event) ?? null;
    const summary = await checkDeliveries(
      transmit,
      plugin,
      [rec],
      {
        config: rt.config,
        vendors: rt.vendors,
        log,
        context: (t, p, s) => createVendorContext(t, p, vendorRuntime, s, { purpose: 'callback' }),
        ports: {
          due: () => Promise.resolve([]),
          // Only what the vendor's answer changed is written: no error notes, no check counters.
          applyCheck: (r, update) =>
            update.status === r.status ? Promise.resolve(false) : rt.table.applyCheck(r, update),
        },
      },
      signal,
      new Map([[deliveryId, body]]),
    );
    return json(202, { accepted: true, checked: summary.checked, changed: summary.changed });
  } catch (err) {
    log.error('callback handling failed; the poller will follow up', { error: errorMessage(err) });
    return json(202, { accepted: true, checked: false });
  }
}

export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
  .use(sourceMappedErrors())
  .handler(onCallback);
