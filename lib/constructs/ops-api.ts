import { type HttpApi, HttpMethod, HttpRoute, HttpRouteKey } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { OPS_ROUTE_KEYS } from '../../lambdas/domain/ops/route-keys.ts';

export interface OpsApiProps {
  readonly httpApi: HttpApi;
  readonly opsFunction: IFunction;
}

/**
 * The ops API's routes (docs/ops-api.md) on the relay's HTTP API, every one behind IAM authorization: a caller
 * signs with SigV4 (service execute-api) and needs `execute-api:Invoke` on the route; an unsigned request is
 * refused by API Gateway (403) before any Lambda runs. Only the vendor callbacks stay open (CallbackApi).
 * A `$default` route (IAM too) sends every request no route matched to the ops function, so an unknown path or
 * a wrong method is answered in the envelope (404 NOT_FOUND / 405 METHOD_NOT_ALLOWED), not `{"message":...}`.
 */
export class OpsApi extends Construct {
  public readonly routes: HttpRoute[];
  public readonly defaultRoute: HttpRoute;

  constructor(scope: Construct, id: string, props: OpsApiProps) {
    super(scope, id);
    const integration = new HttpLambdaIntegration('OpsIntegration', props.opsFunction);
    const authorizer = new HttpIamAuthorizer();
    this.routes = OPS_ROUTE_KEYS.flatMap((key) => {
      const [method, path] = key.split(' ') as [keyof typeof HttpMethod, string];
      return props.httpApi.addRoutes({ path, methods: [HttpMethod[method]], integration, authorizer });
    });
    this.defaultRoute = new HttpRoute(this, 'DefaultRoute', {
      httpApi: props.httpApi,
      routeKey: HttpRouteKey.DEFAULT,
      integration,
      authorizer,
    });
  }
}
