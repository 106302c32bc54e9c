/**
 * sendRequest keeps at most 64 000 characters of an answer (error bodies can be huge) unless the request asks for
 * more, e.g. a V7 register answer listing 500 items.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Agent } from 'undici';
import { sendRequest } from '#commons/http.ts';

const body = JSON.stringify({ items: Array.from({ length: 5000 }, (_, i) => ({ id: `item-${i}`, n: i })) });
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(body);
});
const http = new Agent();
let url: URL;

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/items`);
});
after(async () => {
  await http.close();
  await new Promise((resolve) => server.close(resolve));
});

describe('sendRequest answer size', () => {
  it('keeps 64 000 characters by default, the whole answer when asked', async () => {
    assert.ok(body.length > 64_000);
    const signal = AbortSignal.timeout(30_000);
    const capped = await sendRequest(http, { method: 'GET', url }, signal);
    assert.equal(capped.kind === 'answer' && capped.text.length, 64_000);
    const whole = await sendRequest(http, { method: 'GET', url, maxAnswerChars: 1_000_000 }, signal);
    assert.equal(whole.kind === 'answer' && whole.text, body);
  });
});
