/**
 * What sendRequest makes of answers that break after the request went out: a malformed answer (a bad status
 * line, a bad chunk size) is a `no-answer` sent in full (the vendor may hold the file), never a thrown error the
 * forwarder would record as INTERNAL_ERROR and end DEAD; and a huge answer body is not read whole: at most
 * `maxAnswerChars` are kept, the rest is never read (the connection is dropped) and the answer says so.
 * Stand-in servers are raw `net` sockets (or a plain http server) on 127.0.0.1; nothing is timed.
 */
import assert from 'node:assert/strict';
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
