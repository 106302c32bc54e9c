/**
 * What sendRequest makes of answers that break after the request went out: a malformed answer (a bad status
 * line, a bad chunk size) is a `no-answer` sent in full (the vendor may hold the file), never a thrown error the
 * forwarder would record as INTERNAL_ERROR and end DEAD; and a huge answer body is not read whole: at most
 * `maxAnswerChars` are kept, the rest is never read (the connection is dropped) and the answer says so.
 * Stand-in servers are raw `net` sockets (or a plain http server) on 127.0.0.1; nothing is timed.
 */
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { Agent } from 'undici';
import { sendRequest } from '#commons/http.ts';

/** A server that reads one whole request (headers, then Content-Length bytes), then writes `reply` raw. */
function garbageServer(reply: string): { server: Server; sockets: Set<Socket>; read: Promise<number> } {
  const sockets = new Set<Socket>();
  let resolveRead: (n: number) => void = () => undefined;
  const read = new Promise<number>((r) => {
    resolveRead = r;
  });
  const server = createServer((socket) => {
    sockets.add(socket);
    let buf = Buffer.alloc(0);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/content-length:\s*(\d+)/i.exec(buf.subarray(0, end).toString())?.[1] ?? 0);
      if (buf.length < end + 4 + length) return;
      socket.removeAllListeners('data');
      resolveRead(length);
      socket.write(reply);
    });
  });
  return { server, sockets, read };
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as AddressInfo).port;
}

describe('a malformed answer after the whole request went out', () => {
  const cases = {
    'a bad status line': 'NOT-HTTP garbage\r\n\r\n',
    'a bad chunk size after a 200 header':
      'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n',
  };
  for (const [name, reply] of Object.entries(cases)) {
    it(`${name} is a no-answer sent in full, not a thrown error`, async () => {
      const { server, sockets, read } = garbageServer(reply);
      const port = await listen(server);
      const agent = new Agent();
      try {
        const body = Buffer.alloc(10_000, 7);
        const answer = await sendRequest(
          agent,
          {
            method: 'POST',
            url: new URL(`http://127.0.0.1:${port}/upload`),
            headers: { 'content-length': String(body.length) },
            body,
          },
          AbortSignal.timeout(30_000),
        );
        assert.equal(await read, body.length, 'the stand-in read the whole request');
        assert.equal(answer.kind, 'no-answer');
        assert.equal(answer.kind === 'no-answer' && answer.sentInFull, true);
      } finally {
        await agent.destroy();
        for (const s of sockets) s.destroy();
        await new Promise((r) => server.close(r));
      }
    });
  }
});

describe('a huge answer body', () => {
  it('keeps maxAnswerChars, stops reading (the server sees the connection closed early) and says it was cut', async () => {
    const total = 256 * 1024 * 1024;
    const block = Buffer.alloc(64 * 1024, 'e');
    let written = 0;
    let finished = false;
    let resolveClosed: (v: { written: number; finished: boolean }) => void = () => undefined;
    const closed = new Promise<{ written: number; finished: boolean }>((r) => {
      resolveClosed = r;
    });
    const server = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(total) });
      res.on('close', () => resolveClosed({ written, finished }));
      const pump = () => {
        while (written < total && !res.destroyed) {
          written += block.length;
          if (!res.write(block)) return void res.once('drain', pump);
        }
        if (written >= total && !res.destroyed) {
          finished = true;
          res.end();
        }
      };
      pump();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    const agent = new Agent();
    try {
      const answer = await sendRequest(
        agent,
        { method: 'GET', url: new URL(`http://127.0.0.1:${port}/big`), maxAnswerChars: 1000 },
        AbortSignal.timeout(60_000),
      );
      assert.equal(answer.kind, 'answer');
      assert.equal(answer.kind === 'answer' && answer.status, 200);
      assert.equal(answer.kind === 'answer' && answer.text, 'e'.repeat(1000));
      assert.equal(answer.kind === 'answer' && answer.truncated, true);
      const seen = await closed;
      assert.equal(seen.finished, false, 'the server never got to write the whole body');
      assert.ok(seen.written < total / 4, `only ${seen.written} of ${total} bytes were written`);
    } finally {
      await agent.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('counts characters, not bytes, decodes the charset the answer names, and does not flag a whole answer', async () => {
    const replies: Record<string, { type: string; bytes: Buffer }> = {
      '/utf8': { type: 'text/plain; charset=utf-8', bytes: Buffer.from('é'.repeat(50)) },
      '/latin1': { type: 'text/plain; charset=ISO-8859-1', bytes: Buffer.from([0x63, 0x61, 0x66, 0xe9]) },
      '/unknown': { type: 'text/plain; charset=no-such-charset', bytes: Buffer.from('ok é') },
    };
    const server = createHttpServer((req, res) => {
      const r = replies[req.url ?? ''] as { type: string; bytes: Buffer };
      res.writeHead(200, { 'content-type': r.type });
      res.end(r.bytes);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const agent = new Agent();
    const get = (path: string, maxAnswerChars?: number) =>
      sendRequest(
        agent,
        { method: 'GET', url: new URL(path, base), ...(maxAnswerChars ? { maxAnswerChars } : {}) },
        AbortSignal.timeout(30_000),
      );
    try {
      const cut = await get('/utf8', 30);
      assert.deepEqual(cut.kind === 'answer' && [cut.text, cut.truncated], ['é'.repeat(30), true]);
      const exact = await get('/utf8', 50);
      assert.deepEqual(exact.kind === 'answer' && [exact.text, exact.truncated], ['é'.repeat(50), undefined]);
      const latin1 = await get('/latin1');
      assert.equal(latin1.kind === 'answer' && latin1.text, 'café');
      const unknown = await get('/unknown');
      assert.equal(unknown.kind === 'answer' && unknown.text, 'ok é');
    } finally {
      await agent.close();
      server.close();
    }
  });
});
