/**
 * The delivery status model: one record per (object version × destination). Pure: no I/O.
 *
 *   RECEIVED → QUEUED → SENDING → ACCEPTED → PENDING_VALIDATION / PROCESSING → UPLOADED | COMPLETED
 *      ↓         ↓      ↓  ↑  ↘                        ↓
 *      HELD ⇄ ───┴──  RETRYING  ALREADY_PRESENT   FAILED_VALIDATION | FAILED
 *                        ↓        SKIPPED
 *                   DEAD | UNCONFIRMED | REJECTED
 *   UNROUTED: the key matched no stream (a record with no destination).
 *
 * - HELD: the destination is paused (credentials refused or unreadable, a quota, a missing dataset…), stopped
 *   by an operator or disabled. The delivery waits in the table, not in a queue, for as long as that lasts, and
 *   is queued again when the destination runs again. It spends no attempt.
 * - ALREADY_PRESENT: the vendor already holds this content (an Edge Impulse duplicate, a V7 ALREADY_EXISTS)
 *   from somewhere else. Final and not a failure. A duplicate answer to a retry of the relay's own send whose
 *   answer was lost is a delivery (UPLOADED), not this.
 * - SKIPPED: the relay did not send it on purpose (`skip_duplicate_content`: this content was already
 *   delivered to the destination under another object version).
 * - UNCONFIRMED: the attempts ran out and at least one send reached the vendor in full without an answer: the
 *   vendor may hold the file. Never called DEAD, since that would claim the vendor does not have it.
 */
export const STATUSES = [
  'RECEIVED',
  'QUEUED',
  'SENDING',
  'RETRYING',
  'HELD',
  'ACCEPTED',
  'PENDING_VALIDATION',
  'PROCESSING',
  'UPLOADED',
  'COMPLETED',
  'ALREADY_PRESENT',
  'SKIPPED',
  'FAILED_VALIDATION',
  'FAILED',
  'REJECTED',
  'DEAD',
  'UNCONFIRMED',
  'UNROUTED',
] as const;

export type DeliveryStatus = (typeof STATUSES)[number];

/** Statuses from which the forwarder may claim a job and send it. */
export const SENDABLE: readonly DeliveryStatus[] = ['RECEIVED', 'QUEUED', 'RETRYING', 'HELD'];

/** Statuses the poller (or a vendor callback) moves on: the vendor has the file and is still working on it. */
export const POLLABLE: readonly DeliveryStatus[] = ['ACCEPTED', 'PENDING_VALIDATION', 'PROCESSING'];

const ACCEPTED_OUTCOMES: readonly DeliveryStatus[] = [
  'ACCEPTED',
  'PENDING_VALIDATION',
  'PROCESSING',
  'UPLOADED',
  'COMPLETED',
];

const TRANSITIONS: Record<DeliveryStatus, readonly DeliveryStatus[]> = {
  RECEIVED: ['QUEUED', 'SENDING', 'RETRYING', 'HELD', 'REJECTED'],
  QUEUED: ['SENDING', 'RETRYING', 'HELD', 'REJECTED'],
  SENDING: [
    'SENDING',
    ...ACCEPTED_OUTCOMES,
    'ALREADY_PRESENT',
    'SKIPPED',
    'RETRYING',
    'HELD',
    'REJECTED',
    'DEAD',
    'UNCONFIRMED',
  ],
  RETRYING: ['RETRYING', 'SENDING', 'HELD', 'REJECTED', 'DEAD'],
  HELD: ['HELD', 'QUEUED', 'SENDING', 'REJECTED'],
  ACCEPTED: ['PENDING_VALIDATION', 'PROCESSING', 'UPLOADED', 'COMPLETED', 'FAILED_VALIDATION', 'FAILED'],
  PENDING_VALIDATION: ['PENDING_VALIDATION', 'UPLOADED', 'COMPLETED', 'FAILED_VALIDATION', 'FAILED'],
  PROCESSING: ['PROCESSING', 'UPLOADED', 'COMPLETED', 'FAILED_VALIDATION', 'FAILED'],
  UPLOADED: [],
  COMPLETED: [],
  ALREADY_PRESENT: [],
  SKIPPED: [],
  FAILED_VALIDATION: [],
  FAILED: [],
  REJECTED: [],
  DEAD: [],
  UNCONFIRMED: [],
  UNROUTED: [],
};

/** Final statuses (no transition leads out of them): nothing changes them except an operator's restream. */
export const TERMINAL: readonly DeliveryStatus[] = STATUSES.filter((s) => TRANSITIONS[s].length === 0);

/** Final and fine: the vendor has the file (or the relay chose not to send it). Never alarmed on. */
export const SUCCESS: readonly DeliveryStatus[] = ['UPLOADED', 'COMPLETED', 'ALREADY_PRESENT', 'SKIPPED'];

/** Final and not fine: what ops look at. */
export const FAILURE: readonly DeliveryStatus[] = TERMINAL.filter((s) => !SUCCESS.includes(s));

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

/**
 * Statuses whose records sit in the sparse `byDue` index: someone still has to act on them at `nextCheckAt`
 * (the poller checks pollable ones with the vendor, releases HELD ones when their destination runs again, and
 * re-queues RECEIVED / RETRYING ones whose queue message was lost).
 */
export const DUE: readonly DeliveryStatus[] = ['RECEIVED', 'RETRYING', 'HELD', ...POLLABLE];

export function isDue(s: DeliveryStatus): boolean {
  return DUE.includes(s);
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
