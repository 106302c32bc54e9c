/**
 * The ops API on AWS: every route of the HTTP API but the vendor callbacks has IAM authorization, so an
 * unsigned request is refused by API Gateway before any Lambda runs; each ops route key is there once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OPS_ROUTE_KEYS } from '../../lambdas/domain/ops/route-keys.ts';
import { fullConfig } from './fixtures.ts';
import { resourcesOf, synth } from './helpers.ts';

const s = synth(fullConfig());
const routes = resourcesOf(s, 'AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties);

describe('ops API routes', () => {
  it('has every ops route key once', () => {
    const keys = routes.map((r) => String(r.RouteKey));
    for (const key of OPS_ROUTE_KEYS) assert.equal(keys.filter((k) => k === key).length, 1, key);
  });

  it('authorizes every route with AWS_IAM except the vendor callbacks', () => {
    const open = routes.filter((r) => r.AuthorizationType !== 'AWS_IAM').map((r) => String(r.RouteKey));
    assert.deepEqual(open, ['POST /callbacks/{vendor}/{token}']);
    assert.equal(routes.length, OPS_ROUTE_KEYS.length + 2, 'the ops routes, $default and the callbacks');
  });

  it('sends what no route matched ($default, IAM-authorized) to the ops function, so it answers in the envelope', () => {
    const fallback = routes.filter((r) => r.RouteKey === '$default');
    assert.equal(fallback.length, 1);
    assert.equal(fallback[0]?.AuthorizationType, 'AWS_IAM');
    const opsRoute = routes.find((r) => r.RouteKey === 'GET /v1/status');
    assert.deepEqual(fallback[0]?.Target, opsRoute?.Target, 'the same integration as the ops routes');
  });

  it("reads the ops function's own log group too (its failures are logged there)", () => {
    const fns = resourcesOf(s, 'AWS::Lambda::Function').map(([, f]) => f.Properties);
    const ops = fns.find((f) => JSON.stringify(f.Environment ?? {}).includes('RELAY_LOG_GROUPS'));
    assert.ok(ops, 'the ops function has RELAY_LOG_GROUPS');
    const groups = JSON.stringify(
      (ops.Environment as { Variables: Record<string, unknown> }).Variables.RELAY_LOG_GROUPS,
    );
    const own = JSON.stringify((ops.LoggingConfig as { LogGroup?: unknown } | undefined)?.LogGroup);
    assert.ok(own && own !== 'undefined', 'the ops function logs to its own group');
    assert.ok(groups.includes(own), `${own} in ${groups}`);
  });

  it('lets the ops function read the relay log groups and move dead letters, and nothing writes factory objects', () => {
    const policies = resourcesOf(s, 'AWS::IAM::Policy').map(([, p]) => JSON.stringify(p.Properties));
    const ops = policies.filter((p) => p.includes('logs:FilterLogEvents'));
    assert.ok(ops.length > 0, 'a policy grants logs:FilterLogEvents');
    assert.ok(
      ops.some((p) => p.includes('sqs:DeleteMessage')),
      'the ops role consumes dead letters',
    );
    assert.ok(!policies.some((p) => /"s3:(PutObject|DeleteObject)[^"]*"[^\]]*IngestBucket/.test(p)));
  });
});
