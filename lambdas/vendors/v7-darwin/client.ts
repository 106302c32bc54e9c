/**
 * The V7 requests of one delivery call: the /api routes with `Authorization: ApiKey <key>` through the shared
 * rate limit, the presigned S3 PUT streamed from the factory's object, and bounded in-attempt retries of the
 * idempotent steps.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseRetryAfter } from '#domain/backoff.ts';
import type { DeliveryJob, VendorAnswer, VendorContext } from '../types.ts';
import { isTransient } from './answers.ts';
import { V7_ASSUMPTIONS } from './assumptions.ts';
import { apiUrl, type V7Settings } from './settings.ts';

export class V7Client {
  constructor(
    readonly ctx: VendorContext,
    readonly settings: V7Settings,
    private readonly key: string,
  ) {}

  private teamPath(path: string): URL {
    return apiUrl(this.ctx.destination.baseUrl, `/v2/teams/${encodeURIComponent(this.settings.team)}${path}`);
  }

  /** One /api request: a rate-limit token, then the request. */
  async api(method: 'GET' | 'POST', path: string, body?: unknown): Promise<VendorAnswer> {
    await this.ctx.throttle();
    const headers: Record<string, string> = {
      authorization: `ApiKey ${this.key}`,
      accept: 'application/json',
    };
    if (body !== undefined) headers['content-type'] = 'application/json';
    return this.ctx.request({
      method,
      url: this.teamPath(path),
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      // A register answer lists every item with its slots: ~300 characters each, 500 per call.
      maxAnswerChars: 4_000_000,
    });
  }

  /**
   * An idempotent /api request (sign, confirm), tried again at once after a 429 (not storage), a 5xx or no
   * answer, up to `maxApiTriesPerStep` in all; the last answer is returned whatever it is.
   */
  async idempotent(method: 'GET' | 'POST', path: string, body?: unknown): Promise<VendorAnswer> {
    for (let tries = 1; ; tries++) {
      const answer = await this.api(method, path, body);
      const again = answer.kind === 'no-answer' || isTransient(answer);
      if (!again || tries >= V7_ASSUMPTIONS.maxApiTriesPerStep || this.ctx.signal.aborted) return answer;
      const wait = this.inlineWait(answer, tries);
      if (wait === undefined) return answer;
      await this.pause(wait);
    }
  }

  /**
   * How long to wait before trying again in this attempt: Retry-After when it is short enough (else undefined:
   * leave it to the core's backoff, which honours it), or a jittered exponential delay.
   */
  inlineWait(answer: VendorAnswer, tries: number): number | undefined {
    if (answer.kind === 'answer') {
      const ra = parseRetryAfter(answer.headers['retry-after'], this.ctx.now());
      if (ra !== undefined) return ra <= V7_ASSUMPTIONS.maxInlineWaitMs ? ra : undefined;
    }
    return Math.floor(Math.random() * V7_ASSUMPTIONS.inlineBackoffBaseMs * 2 ** (tries - 1));
  }

  async pause(ms: number): Promise<void> {
    if (ms > 0) await sleep(ms, undefined, { signal: this.ctx.signal }).catch(() => undefined);
  }

  /**
   * The raw PUT of the object's bytes to a presigned URL: no Authorization, no multipart, Content-Length set,
   * the body streamed from S3 as it is read (never buffered). The URL is a credential: never logged or stored.
   */
  async put(uploadUrl: string, job: DeliveryJob): Promise<VendorAnswer> {
    const body = await this.ctx.objects.stream(job.object);
    return this.ctx.request({
      method: 'PUT',
      url: new URL(uploadUrl),
      headers: { 'content-length': String(job.object.size) },
      body,
    });
  }
}

/** The S3 error code of an XML error body (`<Error><Code>RequestTimeout</Code>…`). */
export function s3Code(text: string): string | undefined {
  return /<Code>([^<]+)<\/Code>/.exec(text)?.[1];
}
