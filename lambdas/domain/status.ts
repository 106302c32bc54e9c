/**
 * The delivery status model: one record per (object version × destination). Pure: no I/O.
 *
 *   RECEIVED → QUEUED → SENDING → ACCEPTED → PENDING_VALIDATION / PROCESSING → UPLOADED | COMPLETED
 *                         ↓  ↑                          ↓
 *                       RETRYING → DEAD            FAILED_VALIDATION | FAILED
 *                         ↓
 *                       REJECTED
 *   UNROUTED: the key matched no stream (a record with no destination).
 */
export const STATUSES = [
  'RECEIVED',
  'QUEUED',
  'SENDING',
  'RETRYING',
  'ACCEPTED',
  'PENDING_VALIDATION',
  'PROCESSING',
  'UPLOADED',
  'COMPLETED',
  'FAILED_VALIDATION',
  'FAILED',
  'REJECTED',
  'DEAD',
  'UNROUTED',
] as const;

export type DeliveryStatus = (typeof STATUSES)[number];

/** Statuses from which the forwarder may claim a job and send it. */
export const SENDABLE: readonly DeliveryStatus[] = ['RECEIVED', 'QUEUED', 'RETRYING'];

/** Statuses the poller (or a vendor callback) moves on: the vendor has the file and is still working on it. */
export const POLLABLE: readonly DeliveryStatus[] = ['ACCEPTED', 'PENDING_VALIDATION', 'PROCESSING'];

const TRANSITIONS: Record<DeliveryStatus, readonly DeliveryStatus[]> = {
  RECEIVED: ['QUEUED', 'SENDING', 'RETRYING', 'REJECTED'],
  QUEUED: ['SENDING', 'RETRYING', 'REJECTED'],
  SENDING: [
    'SENDING',
    'ACCEPTED',
    'PENDING_VALIDATION',
    'PROCESSING',
    'UPLOADED',
    'COMPLETED',
    'RETRYING',
    'REJECTED',
    'DEAD',
  ],
  RETRYING: ['RETRYING', 'SENDING', 'REJECTED', 'DEAD'],
  ACCEPTED: ['PENDING_VALIDATION', 'PROCESSING', 'UPLOADED', 'COMPLETED', 'FAILED_VALIDATION', 'FAILED'],
  PENDING_VALIDATION: ['PENDING_VALIDATION', 'UPLOADED', 'COMPLETED', 'FAILED_VALIDATION', 'FAILED'],
  PROCESSING: ['PROCESSING', 'UPLOADED', 'COMPLETED', 'FAILED_VALIDATION', 'FAILED'],
  UPLOADED: [],
  COMPLETED: [],
  FAILED_VALIDATION: [],
  FAILED: [],
  REJECTED: [],
  DEAD: [],
  UNROUTED: [],
};

/** Final statuses (no transition leads out of them): nothing changes them except an operator's restream. */
export const TERMINAL: readonly DeliveryStatus[] = STATUSES.filter((s) => TRANSITIONS[s].length === 0);

export const SUCCESS: readonly DeliveryStatus[] = ['UPLOADED', 'COMPLETED'];

export function isTerminal(s: DeliveryStatus): boolean {
  return TERMINAL.includes(s);
}

export function isPollable(s: DeliveryStatus): boolean {
  return POLLABLE.includes(s);
}

export function isSendable(s: DeliveryStatus): boolean {
  return SENDABLE.includes(s);
}

export function canTransition(from: DeliveryStatus, to: DeliveryStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** The statuses from which `to` may be reached: the condition of a conditional write. */
export function allowedFrom(to: DeliveryStatus): DeliveryStatus[] {
  return STATUSES.filter((s) => TRANSITIONS[s].includes(to));
}

/** A recorded error: what ops read in the table. `code` is stable and machine-readable. */
export interface RecordedError {
  code: string;
  message: string;
  /** The vendor's HTTP status, when the error came from a vendor answer. */
  httpStatus?: number;
  /** The vendor's own error code, when it sent one. */
  vendorCode?: string;
}
