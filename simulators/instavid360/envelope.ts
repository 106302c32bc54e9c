import type { SimResponse } from '../framework/index.ts';
import { ERROR_CODE_IS_HTTP_STATUS, LOCALE, OK_MESSAGE } from './assumptions.ts';

/** The documented response envelope (S2): `{ success, code, locale, message, data }`. */
export interface Envelope {
  success: boolean;
  code: number;
  locale: string;
  message: string;
  data: unknown;
}

export function okEnvelope(data: unknown, message = OK_MESSAGE): Envelope {
  return { success: true, code: 0, locale: LOCALE, message, data };
}

export function ok(data: unknown, status = 200): SimResponse {
  return { status, body: okEnvelope(data) };
}

/** An error answer: same envelope, `success:false`, reasons in `data.messages` ([A] §4.2). */
export function fail(
  status: number,
  message: string,
  messages: string[],
  headers?: Record<string, string>,
): SimResponse {
  const body: Envelope = {
    success: false,
    code: ERROR_CODE_IS_HTTP_STATUS ? status : 1,
    locale: LOCALE,
    message,
    data: { messages },
  };
  return headers ? { status, headers, body } : { status, body };
}
