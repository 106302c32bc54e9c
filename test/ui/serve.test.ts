/**
 * `GET /ui/object`: a factory's file is shown inline only when it is an image or a video, and never runs as a
 * page on the proxy's origin (where a script could call the ops API with the operator's credentials): anything
 * else is a download, and every object is a sandboxed document that may load nothing.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type ObjectSource, objectHeaders, uiAnswer } from '../../ui/serve.ts';

const HTML = Buffer.from('<script>fetch("/v1/config",{method:"POST",body:"{}"})</script>');

function source(contentType: string, key = 'line-1/cam/x.html'): ObjectSource {
  return {
    delivery: async (id) => (id === 'd1' ? { bucket: 'ingest', key } : undefined),
    read: async () => ({ contentType, body: HTML }),
  };
}

const get = (src: ObjectSource) => uiAnswer('/ui/object', new URLSearchParams({ delivery: 'd1' }), src);

describe('/ui/object', () => {
  test('an HTML file a factory uploaded is a sandboxed download, not a page', async () => {
    const a = await get(source('text/html; charset=utf-8'));
    assert.equal(a.statusCode, 200);
    assert.equal(a.headers['content-type'], 'application/octet-stream');
    assert.equal(a.headers['content-disposition'], `attachment; filename="x.html"; filename*=UTF-8''x.html`);
    assert.match(a.headers['content-security-policy'] ?? '', /default-src 'none'.*sandbox/);
    assert.equal(a.headers['x-content-type-options'], 'nosniff');
    assert.deepEqual(a.body, HTML, 'the bytes are unchanged: only how the browser treats them');
  });

  test('SVG (which can hold script) and made-up types are downloads too', async () => {
    for (const type of ['image/svg+xml', 'application/xhtml+xml', 'text/xml', 'image/x-whatever', ''])
      assert.equal((await get(source(type))).headers['content-type'], 'application/octet-stream', type);
  });

  test('images and videos are shown inline, still sandboxed', async () => {
    for (const type of ['image/jpeg', 'IMAGE/PNG', 'video/mp4', 'video/quicktime', 'image/webp']) {
      const a = await get(source(type, 'line-1/cam/SN1.jpg'));
      assert.equal(a.headers['content-type'], type.toLowerCase(), type);
      assert.equal(a.headers['content-disposition'], undefined, type);
      assert.match(a.headers['content-security-policy'] ?? '', /sandbox/);
    }
  });

  test("a download's name: an ASCII fallback and the exact UTF-8 name", () => {
    const h = objectHeaders('text/plain', 'line-1/Prüfstand/"a"\\b ü.txt');
    assert.equal(
      h['content-disposition'],
      `attachment; filename="_a__b _.txt"; filename*=UTF-8''${encodeURIComponent('"a"\\b ü.txt')}`,
    );
  });
});
