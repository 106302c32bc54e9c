/**
 * Relay configs for the CDK tests, built directly (no loader). Secret *names* only: the values live in
 * Secrets Manager and never in a config or a template.
 */
import type { RelayConfig } from '../../lambdas/domain/config/types.ts';

export const TEST_ENV = { account: '111111111111', region: 'eu-west-1' } as const;

export function fullConfig(): RelayConfig {
  return {
    version: 1,
    relay: { max_attempts: 6, results_prefix: 'processed/' },
    data_receiver: [
      {
        data_receiver_name: 'line-cameras',
        protocol: 's3',
        streams: [
          {
            asset: 'line1',
            stream_type: 'image',
            key_pattern: 'images/{line}/{station}/{serial}_{taken_at}.{ext}',
          },
          { asset: 'line1', stream_type: 'product', key_pattern: 'products/{serial**}.jpg' },
        ],
      },
    ],
    data_transmit: [
      {
        transmit_name: 'instrumental-main',
        transmit_type: 'instrumental',
        filter_stream: ['line1:image'],
        base_url: 'https://api.instrumental.example',
        api_key_secret: 'relay/instrumental-main',
        fields: { serial: '{serial}' },
      },
      {
        transmit_name: 'instrumental-eol',
        transmit_type: 'instrumental',
        filter_stream: ['line1:image'],
        base_url: 'https://api.instrumental.example',
        api_key_secret: 'relay/instrumental-eol',
        fields: { serial: '{serial}' },
      },
      {
        transmit_name: 'ei-training',
        transmit_type: 'edge-impulse',
        filter_stream: ['*'],
        base_url: 'https://ingestion.edgeimpulse.example',
        api_key_secret: 'relay/edge-impulse',
        fields: { label: '{station}' },
      },
      {
        transmit_name: 'iv360',
        transmit_type: 'instavid360',
        filter_stream: ['line1:product'],
        base_url: 'https://instavid360.example',
        api_key_secret: 'relay/instavid360',
        options: { task: 'bg-replace', background: { s3: 's3://brand-assets/backdrops/studio.jpg' } },
        fields: { meta: { serial: '{serial}' } },
      },
    ],
  };
}

/** One vendor, no relay section (defaults apply). */
export function minimalConfig(): RelayConfig {
  return {
    version: 1,
    data_receiver: [
      {
        data_receiver_name: 'r',
        protocol: 's3',
        streams: [{ asset: 'a', stream_type: 's', key_pattern: '**' }],
      },
    ],
    data_transmit: [
      {
        transmit_name: 'only',
        transmit_type: 'v7-darwin',
        filter_stream: ['*'],
        base_url: 'https://darwin.example',
        api_key_secret: 'relay/v7',
        fields: {},
      },
    ],
  };
}
