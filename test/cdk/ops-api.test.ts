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
    assert.equal(routes.length, OPS_ROUTE_KEYS.length + 1);
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
