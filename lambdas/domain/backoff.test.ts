/**
 * Retry delays never exceed what the queue can wait (SQS visibility, MAX_VISIBILITY_SECONDS): a Retry-After of
 * years or an HTTP date far ahead is clamped, so the time the forwarder records is the time the message comes
 * back. The clock is injected (parseRetryAfter's `now`).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_RETRY_DELAY_MS, parseRetryAfter, queueDelaySeconds, retryDelayMs } from './backoff.ts';
import { MAX_VISIBILITY_SECONDS } from './delivery.ts';

const policy = { baseMs: 2_000, maxMs: 900_000, floorMs: 200 };
const now = Date.parse('2026-03-01T00:00:00.000Z');

describe('retry delays are bounded by the queue', () => {
  it('is the queue visibility limit, shared with the SQS adapter', () => {
    assert.equal(MAX_RETRY_DELAY_MS, MAX_VISIBILITY_SECONDS * 1000);
  });

  it('clamps a Retry-After in seconds beyond what the queue can wait', () => {
    const asked = parseRetryAfter('99999999', now);
    assert.equal(asked, 99_999_999_000);
    assert.equal(
      retryDelayMs(1, policy, asked, () => 0),
      MAX_RETRY_DELAY_MS,
    );
    // A Retry-After too long for a double is still a delay the queue can make, not Infinity.
    const huge = parseRetryAfter('9'.repeat(400), now);
    assert.equal(
      retryDelayMs(1, policy, huge, () => 0),
      MAX_RETRY_DELAY_MS,
    );
  });

  it('clamps an HTTP date far in the future the same way', () => {
    const asked = parseRetryAfter('Fri, 31 Dec 5200 23:59:59 GMT', now);
    assert.ok(asked !== undefined && asked > MAX_RETRY_DELAY_MS);
    assert.equal(
      retryDelayMs(3, policy, asked, () => 0.5),
      MAX_RETRY_DELAY_MS,
    );
    const inTwoHours = parseRetryAfter(new Date(now + 7_200_000).toUTCString(), now);
    assert.equal(
      retryDelayMs(1, policy, inTwoHours, () => 0),
      7_200_000,
      'a wait the queue can make is kept',
    );
  });

  it('keeps a Retry-After longer than backoff_max when the queue can wait it', () => {
    assert.equal(
      retryDelayMs(1, policy, 3_600_000, () => 0),
      3_600_000,
    );
  });

  it('says what the queue really waits: whole seconds rounded up, 0..MAX_VISIBILITY_SECONDS', () => {
    assert.equal(queueDelaySeconds(1_500), 2);
    assert.equal(queueDelaySeconds(2_000), 2);
    assert.equal(queueDelaySeconds(0), 0);
    assert.equal(queueDelaySeconds(-5), 0);
    assert.equal(queueDelaySeconds(Number.NaN), 0);
    assert.equal(queueDelaySeconds(99_999_999_000), MAX_VISIBILITY_SECONDS);
    assert.equal(queueDelaySeconds(Number.POSITIVE_INFINITY), MAX_VISIBILITY_SECONDS);
  });
});
