export type { TaskStatus } from './assumptions.ts';
export * as assumptions from './assumptions.ts';
export { type CallbackAttempt, isLoopbackUrl } from './callbacks.ts';
export type { Envelope } from './envelope.ts';
export {
  decodeImage,
  encodeImage,
  type ImageType,
  lpaBlockSize,
  lpaRect,
  pixelate,
  type Rect,
  type Rgba,
  replaceBackground,
  sniffImageType,
} from './images.ts';
export {
  type InstaVid360CallbackOptions,
  type InstaVid360Options,
  InstaVid360Simulator,
  type StoredUpload,
  type TaskPlan,
  type TaskRecord,
  type TaskResult,
} from './simulator.ts';
export type { ImageKind, TaskType } from './validation.ts';
