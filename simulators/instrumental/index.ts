export * as assumptions from './assumptions.ts';
export { type AssemblyRelationship, type IngestData, parseIngestData } from './data.ts';
export { type ApiKeyConfig, type KeyIdentity, KeyRing, parseKey } from './keys.ts';
export type { Limits } from './project.ts';
export {
  DEFAULT_API_KEY,
  FILE_STATUS_PATH,
  INGEST_PATH,
  InstrumentalSimulator,
  type InstrumentalSimulatorOptions,
  type StoredFile,
} from './simulator.ts';
export { type FileStatus, type ValidationOutcome, validateContent } from './validation.ts';
