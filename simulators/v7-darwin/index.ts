export {
  ALREADY_EXISTS_REASON,
  ITEM_COUNT_LIMIT_REASON,
  V1_MISSING_TEXT_REASON,
  V1_UNKNOWN_TAG_REASON,
  V2_UNKNOWN_TAGS_REASON,
} from './assumptions.ts';
export type {
  ItemSource,
  SlotStatus,
  V7DarwinOptions,
  V7Item,
  V7RateLimit,
  V7Slot,
  V7TeamConfig,
} from './types.ts';
export { V7DarwinSimulator } from './v7-darwin.ts';
