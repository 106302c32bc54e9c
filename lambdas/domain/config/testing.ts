/**
 * Test helpers: a fake vendor catalog (the real registry is filled by the vendor plug-ins) and a template
 * context builder. Not exported from index.ts.
 */
import type { VendorCatalog } from '#vendors/registry.ts';
import type { JsonSchema } from '#vendors/types.ts';
import type { TemplateContext } from './template.ts';

const str: JsonSchema = { type: 'string', minLength: 1 };

/** Instrumental's `data` fields (vendor-contracts §3.1). */
export const INSTRUMENTAL_FIELDS: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['serialNumber', 'stationName', 'imageType', 'imageTimestamp'],
  properties: {
    serialNumber: str,
    stationName: str,
    imageType: str,
    imageTimestamp: {
      type: 'object',
      additionalProperties: false,
      required: ['iso8601Time', 'ianaTimeZone'],
      properties: { iso8601Time: str, ianaTimeZone: str },
    },
    tags: { type: 'array', maxItems: 100, items: { type: 'string' } },
    configName: str,
    imageConfigs: {
      type: 'object',
      additionalProperties: false,
      properties: { configs: { type: 'object', additionalProperties: { type: 'string' } } },
    },
    fixtureName: str,
    fileName: str,
    lineName: str,
    buildName: str,
    parentAssembly: {
      type: 'object',
      additionalProperties: false,
      properties: { unitSerial: str, relationshipName: str },
    },
    subassemblies: { type: 'array' },
  },
};

export const FAKE_CATALOG: VendorCatalog = {
  instrumental: {
    id: 'instrumental',
    fieldsSchema: INSTRUMENTAL_FIELDS,
    optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
  },
  'edge-impulse': {
    id: 'edge-impulse',
    fieldsSchema: {
      type: 'object',
      required: ['label'],
      properties: { label: { type: 'string' }, category: { enum: ['training', 'testing', 'split'] } },
    },
    optionsSchema: {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      additionalProperties: false,
      required: ['category'],
      properties: {
        category: { enum: ['training', 'testing', 'split'] },
        batch: { type: 'integer', minimum: 1 },
      },
    },
  },
};

export function ctxFor(over: Partial<TemplateContext> = {}): TemplateContext {
  return {
    parts: {},
    meta: {},
    object: { bucket: 'ingest', key: 'line-1/aoi/SN1_20240315T101530.jpg', size: 1234, etag: '"abc123"' },
    stream: { asset: 'line-1', stream_type: 'aoi-camera' },
    vars: {},
    ...over,
  };
}
