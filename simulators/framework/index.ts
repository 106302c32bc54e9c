export { type FaultConfig, FaultInjector, type FaultRule, type ScriptedFault } from './faults.ts';
export {
  isMultipart,
  MultipartError,
  type MultipartField,
  type MultipartFile,
  type MultipartLimits,
  type MultipartResult,
  parseMultipart,
} from './multipart.ts';
export { Rng } from './rng.ts';
export {
  fingerprint,
  isLoopbackAddress,
  type ListenOptions,
  type ReceivedRequest,
  type RouteHandler,
  type SimRequest,
  type SimResponse,
  Simulator,
  type SimulatorOptions,
} from './server.ts';
export { KeyedBuckets, TokenBucket } from './token-bucket.ts';
