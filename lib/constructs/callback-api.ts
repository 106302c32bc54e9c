import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  HttpApi,
  HttpMethod,
  type HttpRoute,
  type HttpStage,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { API_ACCESS_LOG_FORMAT, API_THROTTLE, LOG_RETENTION } from '../defaults.ts';

export interface CallbackApiProps {
  /** The function answering vendor callbacks. */
  readonly callbackFunction: IFunction;
}

/** Path of the vendor callback route; `{token}` is the unguessable per-delivery token. */
export const CALLBACK_ROUTE_PATH = '/callbacks/{vendor}/{token}';

/**
 * The relay's HTTP API (API Gateway v2): `POST /callbacks/{vendor}/{token}` → the callback function, on a
 * `$default` stage with stage-wide throttling and JSON access logs in a log group with retention. Later
 * routes (the ops API) are added with `httpApi.addRoutes`.
 */
export class CallbackApi extends Construct {
  public readonly httpApi: HttpApi;
  public readonly stage: HttpStage;
  public readonly accessLogGroup: LogGroup;
  public readonly callbackIntegration: HttpLambdaIntegration;
  public readonly callbackRoutes: HttpRoute[];
  /** Base URL of the API, without a trailing slash (the `$default` stage is served at the root). */
  public readonly url: string;

  constructor(scope: Construct, id: string, props: CallbackApiProps) {
    super(scope, id);
    this.accessLogGroup = new LogGroup(this, 'AccessLogs', { retention: LOG_RETENTION });
    this.httpApi = new HttpApi(this, 'HttpApi', {
      description: 'factory-relay: vendor callbacks',
      createDefaultStage: false,
    });
    this.stage = this.httpApi.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: { ...API_THROTTLE },
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogGroup),
        format: AccessLogFormat.custom(JSON.stringify(API_ACCESS_LOG_FORMAT)),
      },
    });
    this.callbackIntegration = new HttpLambdaIntegration('CallbackIntegration', props.callbackFunction);
    this.callbackRoutes = this.httpApi.addRoutes({
      path: CALLBACK_ROUTE_PATH,
      methods: [HttpMethod.POST],
      integration: this.callbackIntegration,
    });
    this.url = this.httpApi.apiEndpoint;
  }
}
