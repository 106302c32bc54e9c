/** dispatch: what no route matched, and a failure nobody expected, answered in the envelope. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '#commons/logger.ts';
import { dispatch, methodsFor } from './routes.ts';
import type { OpsDeps, OpsRequest } from './types.ts';

const req = (over: Partial<OpsRequest>): OpsRequest => ({
  method: 'GET',
  routeKey: '$default',
  path: {},
  query: {},
  by: 'local:tester',
  ...over,
});

function depsLogging(lines: string[]): OpsDeps {
  return {
    table: {
      listConfigVersions: async () => {
        throw new Error('DynamoDB: ProvisionedThroughputExceededException');
      },
    },
    log: createLogger({}, { sink: (l) => lines.push(l) }),
  } as unknown as OpsDeps;
}

describe('dispatch', () => {
  it('the methods of a path', () => {
    assert.deepEqual(methodsFor('/v1/config').sort(), ['GET', 'POST']);
    assert.deepEqual(methodsFor('/v1/deliveries/abc'), ['GET']);
    assert.deepEqual(methodsFor('/v1/deliveries/abc/'), ['GET']);
    assert.deepEqual(methodsFor('/v1/deliveries//x'), []);
    assert.deepEqual(methodsFor('/v1/nope'), []);
  });

  it('an unknown path is 404 NOT_FOUND, a known one under another method 405, both in the envelope', async () => {
    const deps = depsLogging([]);
    const unknown = await dispatch(req({ rawPath: '/v1/nope' }), deps);
    assert.equal(unknown.statusCode, 404);
    assert.deepEqual(
      { success: unknown.body.success, code: unknown.body.error?.code },
      { success: false, code: 'NOT_FOUND' },
    );
    const wrong = await dispatch(req({ method: 'DELETE', rawPath: '/v1/destinations/inst/stop' }), deps);
    assert.equal(wrong.statusCode, 405);
    assert.equal(wrong.body.error?.code, 'METHOD_NOT_ALLOWED');
    assert.match(wrong.body.error?.text ?? '', /use POST/);
  });

  it('a 500 names the request id, and the log line carries it', async () => {
    const lines: string[] = [];
    const r = await dispatch(
      req({ routeKey: 'GET /v1/config/versions', rawPath: '/v1/config/versions', requestId: 'Abc123=' }),
      depsLogging(lines),
    );
    assert.equal(r.statusCode, 500);
    assert.equal(r.body.error?.code, 'INTERNAL');
    assert.match(r.body.error?.text ?? '', /request id Abc123=/);
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(
      logged.some((l) => l.level === 'error' && l.requestId === 'Abc123='),
      lines.join('\n'),
    );
  });
});
