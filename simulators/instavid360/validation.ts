import { LPA_ORIGINAL_KIND, REFERENCE_MAX_LENGTH } from './assumptions.ts';

export type ImageKind = 'original' | 'background' | 'overlay';
export const IMAGE_KINDS: readonly ImageKind[] = ['original', 'background', 'overlay'];
export type TaskType = 'bgReplace' | 'lpa';

/** A task request body after validation (field names lowercase: authoritative per §4.1). */
export interface TaskRequest {
  reference: string;
  original: string;
  background: string | null;
  overlay: string | null;
  options: unknown;
  meta: unknown;
  callbackUrl: string | null;
}

export type Validated<T> = { ok: true; value: T } | { ok: false; messages: string[] };

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses a JSON request body; the body must be a JSON object sent as application/json. */
export function parseJsonObject(
  contentType: string | undefined,
  raw: Buffer | undefined,
): Validated<Record<string, unknown>> {
  if (raw === undefined) return { ok: false, messages: ['The request body is too large.'] };
  if (!/^application\/([\w.+-]+\+)?json\b/i.test(contentType ?? '')) {
    return { ok: false, messages: ['The request body must be JSON (Content-Type: application/json).'] };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    return { ok: false, messages: ['The request body is not valid JSON.'] };
  }
  if (!isPlainObject(parsed)) return { ok: false, messages: ['The request body must be a JSON object.'] };
  return { ok: true, value: parsed };
}

/**
 * Validates a bg-replace or LPA body, Laravel style: every reason is collected.
 * `lookup` finds one of the caller's own uploads; `referenceTaken` tells whether the caller already used a reference.
 */
export function validateTaskRequest(
  type: TaskType,
  body: Record<string, unknown>,
  lookup: (key: string) => { kind: ImageKind } | undefined,
  referenceTaken: (reference: string) => boolean,
): Validated<TaskRequest> {
  const messages: string[] = [];

  const reference = body.reference;
  if (reference === undefined || reference === null || reference === '') {
    messages.push('The reference field is required.');
  } else if (typeof reference !== 'string') {
    messages.push('The reference must be a string.');
  } else if (reference.length > REFERENCE_MAX_LENGTH) {
    messages.push(`The reference must not be greater than ${REFERENCE_MAX_LENGTH} characters.`);
  } else if (referenceTaken(reference)) {
    messages.push('The reference has already been taken.');
  }

  const imageKey = (field: string, kind: ImageKind, required: boolean): void => {
    const value = body[field];
    if (value === undefined || value === null || value === '') {
      if (required) messages.push(`The ${field} field is required.`);
      return;
    }
    if (typeof value !== 'string') {
      messages.push(`The ${field} must be a string.`);
      return;
    }
    const upload = lookup(value);
    if (!upload) {
      messages.push(`The selected ${field} is invalid.`);
    } else if (upload.kind !== kind) {
      messages.push(`The selected ${field} is a ${upload.kind} image, not a ${kind} image.`);
    }
  };

  if (type === 'bgReplace') {
    imageKey('original', 'original', true);
    imageKey('background', 'background', true);
    if (!('overlay' in body)) messages.push('The overlay field must be present.');
    else imageKey('overlay', 'overlay', false);
  } else {
    imageKey('original', LPA_ORIGINAL_KIND, true);
  }

  const options = body.options;
  if (options !== undefined && options !== null) {
    if (typeof options !== 'object') {
      messages.push('The options must be an array.');
    } else if (isPlainObject(options) && 'shadow' in options && typeof options.shadow !== 'boolean') {
      messages.push('The options.shadow field must be true or false.');
    }
  }
  const meta = body.meta;
  if (meta !== undefined && meta !== null && typeof meta !== 'object') {
    messages.push('The meta must be an array.');
  }

  const callback = body.callback_url;
  let callbackUrl: string | null = null;
  if (callback !== undefined && callback !== null) {
    if (typeof callback !== 'string' || !isHttpUrl(callback)) {
      messages.push('The callback url must be a valid URL.');
    } else {
      callbackUrl = callback;
    }
  }

  if (messages.length > 0) return { ok: false, messages };
  return {
    ok: true,
    value: {
      reference: reference as string,
      original: body.original as string,
      background: type === 'bgReplace' ? (body.background as string) : null,
      overlay: type === 'bgReplace' && typeof body.overlay === 'string' ? body.overlay : null,
      options: options ?? {},
      meta: meta ?? {},
      callbackUrl,
    },
  };
}

function isHttpUrl(raw: string): boolean {
  try {
    const url = new URL(raw);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}
