/**
 * Callback tokens: `<deliveryId>.<mac>`, where mac = HMAC-SHA256(signing key, "<vendor>\n<deliveryId>") in
 * base64url, cut to 128 bits. The signing key is a random secret in Secrets Manager that only the relay reads,
 * so nobody else can make a token for a delivery, and a token cannot be moved to another vendor or delivery.
 * Checked in constant time, before anything is read: a forged callback costs one HMAC.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const MAC_BYTES = 16;
/** Keys shorter than this are refused: a guessable key would make tokens guessable. */
export const MIN_SIGNING_KEY_BYTES = 32;

function mac(key: Buffer, vendor: string, deliveryId: string): Buffer {
  return createHmac('sha256', key).update(`${vendor}\n${deliveryId}`, 'utf8').digest().subarray(0, MAC_BYTES);
}

export function signingKeyFrom(secretText: string): Buffer {
  const trimmed = secretText.trim();
  const key = /^[A-Za-z0-9+/=_-]+$/.test(trimmed) ? Buffer.from(trimmed, 'base64') : Buffer.from(trimmed);
  if (key.length < MIN_SIGNING_KEY_BYTES)
    throw new Error(`the callback signing key must hold at least ${MIN_SIGNING_KEY_BYTES} bytes`);
  return key;
}

export function callbackToken(key: Buffer, vendor: string, deliveryId: string): string {
  return `${deliveryId}.${mac(key, vendor, deliveryId).toString('base64url')}`;
}

/** The delivery id a token was made for, or undefined when the token is not one of ours for this vendor. */
export function verifyCallbackToken(key: Buffer, vendor: string, token: string): string | undefined {
  const dot = token.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const deliveryId = token.slice(0, dot);
  const given = Buffer.from(token.slice(dot + 1), 'base64url');
  const expected = mac(key, vendor, deliveryId);
  if (given.length !== expected.length) return undefined;
  return timingSafeEqual(given, expected) ? deliveryId : undefined;
}
