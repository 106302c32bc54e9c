export {
  type AcquisitionDocument,
  AcquisitionError,
  type ParsedDocument,
  parseAcquisition,
  SIGNATURE_PLACEHOLDER,
  signAcquisitionCbor,
  signAcquisitionJson,
  verifySignature,
} from './acquisition.ts';
export { CborFloat, CborIndefiniteArray, decodeCbor, encodeCbor } from './cbor.ts';
export type { BoundingBox, StructuredLabel } from './labels.ts';
export {
  OFFICIAL_CLI_HOST,
  OFFICIAL_CLI_INGESTION_PORT,
  OFFICIAL_CLI_STUDIO_PORT,
  type OfficialCliEndpoints,
  type OfficialCliSettings,
  serveForOfficialCli,
} from './official-cli.ts';
export {
  type AcquisitionSummary,
  CATEGORIES,
  type Category,
  DEFAULT_API_KEY,
  DEFAULT_PROJECT_ID,
  type EdgeImpulseApiKey,
  type EdgeImpulseSample,
  EdgeImpulseSimulator,
  type EdgeImpulseSimulatorOptions,
  type FileResult,
  type StoredAttachment,
  type StoredCategory,
} from './simulator.ts';
export type { SampleKind } from './sniff.ts';
export {
  type EdgeImpulseStudioOptions,
  EdgeImpulseStudioSimulator,
  type StudioProject,
  type StudioProjectInfo,
} from './studio.ts';
