/**
 * The ops page on the local stack's HTTP API (local/stack.ts adds these routes beside the callback and the ops
 * API): `GET /ui` and `GET /ui/{file+}`, answered like a Lambda behind an HTTP API (payload 2.0, binary bodies
 * base64-encoded). The page calls `/v1/*` on the same origin; object reads go through the stack's S3 client.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { deliveryFromResponse, s3Reader, uiAnswer } from './serve.ts';

export interface LocalUiOptions {
  /** The HTTP API's own URL (known once it listens). */
  apiUrl: () => string;
  s3: S3Client;
  resultsBucket: string;
}

export function localUiRoutes(opts: LocalUiOptions): {
  routeKey: string;
  functionName: string;
  handler: (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;
}[] {
  const handler = async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
    const a = await uiAnswer(event.rawPath, new URLSearchParams(event.rawQueryString), {
      read: s3Reader(opts.s3),
      resultsBucket: opts.resultsBucket,
      delivery: async (id) =>
        deliveryFromResponse(await fetch(`${opts.apiUrl()}/v1/deliveries/${encodeURIComponent(id)}`)),
    });
    return {
      statusCode: a.statusCode,
      headers: a.headers,
      body: a.body.toString('base64'),
      isBase64Encoded: true,
    };
  };
  return [
    { routeKey: 'GET /ui', functionName: 'ops-page', handler },
    { routeKey: 'GET /ui/{file+}', functionName: 'ops-page', handler },
  ];
}
