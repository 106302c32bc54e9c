/**
 * Vendor callback route (HTTP API: POST /callbacks/{vendor}/{token}). A callback is only a hint: the relay
 * never trusts its body, it re-queries the vendor for that one delivery and records what the vendor says.
 * Answers 202 for a known delivery, 404 otherwise; never 5xx for a bad callback, so vendors do not retry junk.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { errorMessage } from '#commons/errors.ts';
import { decodeDeliveryId } from '#domain/delivery.ts';
import { checkDeliveries } from '#domain/poll.ts';
import { isPollable } from '#domain/status.ts';
import { createVendorContext } from '#domain/vendor-context.ts';
import { vendorSide } from './vendor-runtime.ts';

const json = (statusCode: number, body: unknown): APIGatewayProxyStructuredResultV2 => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

export async function onCallback(
  event: APIGatewayProxyEventV2,
  context: Context,
): Promise<APIGatewayProxyStructuredResultV2> {
  const { rt, vendorRuntime } = vendorSide();
  const log = rt.log.child({ fn: 'callback' });
  const vendorId = event.pathParameters?.vendor ?? '';
  const key = decodeDeliveryId(event.pathParameters?.token ?? '');
  const plugin = rt.vendors[vendorId];
  if (!key || !plugin) return json(404, { error: 'unknown callback' });
  const rec = await rt.table.get(key);
  if (!rec || rec.vendor !== vendorId) return json(404, { error: 'unknown callback' });
  const transmit = rt.config.data_transmit.find((t) => t.transmit_name === rec.destination);
  if (!transmit || !plugin.poll) return json(202, { accepted: true, checked: false });
  if (!isPollable(rec.status)) return json(200, { accepted: true, status: rec.status });
  const signal = AbortSignal.timeout(Math.max(1_000, context.getRemainingTimeInMillis() - 1_000));
  try {
    const summary = await checkDeliveries(
      transmit,
      plugin,
      [rec],
      {
        config: rt.config,
        vendors: rt.vendors,
        log,
        context: (t, p, s) => createVendorContext(t, p, vendorRuntime, s),
        ports: {
          due: () => Promise.resolve([]),
          applyCheck: (r, update) => rt.table.applyCheck(r, update),
        },
      },
      signal,
    );
    return json(202, { accepted: true, checked: summary.checked, changed: summary.changed });
  } catch (err) {
    log.error('callback re-check failed; the poller will follow up', { error: errorMessage(err) });
    return json(202, { accepted: true, checked: false });
  }
}

export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>().handler(onCallback);
