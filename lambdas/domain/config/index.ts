/**
 * The relay config: types, schema, templates, key patterns, validation and loading. For tools (synth, the CLI,
 * the local stack): Lambda code imports the modules it needs directly, never this barrel, which would bring the
 * YAML parser and the schema validator into its bundle.
 */

export {
  compileIgnore,
  DEFAULT_IGNORE,
  DEFAULTS_ENTRY,
  effectiveIgnore,
  globToRegExp,
  type IgnoreMatcher,
  ignoreGlobProblem,
} from './ignore.ts';
export {
  ConfigError,
  type ConfigFormat,
  formatViolations,
  interpolateEnv,
  type LoadedConfig,
  type LoadOptions,
  loadConfig,
  loadConfigFile,
  parseConfigText,
} from './load.ts';
export {
  compileKeyPattern,
  DEFAULT_SIDECAR_SUFFIX,
  destinationsFor,
  filterMatches,
  forMatching,
  ignoredBy,
  isSidecarKey,
  type KeyPattern,
  KeyPatternError,
  listStreams,
  matchStream,
  parseFilterEntry,
  RESERVED_PART_NAMES,
  receiverIgnores,
  type SidecarOwner,
  type StreamMatch,
  type StreamRef,
  sidecarKeyFor,
  sidecarOwner,
  sidecarWaitMs,
  streamId,
  streamPattern,
  transmitTakes,
} from './match.ts';
export { PATTERNS, RELAY_CONFIG_SCHEMA, relayConfigSchemaText } from './schema.ts';
export {
  type CompiledTemplate,
  compileTemplate,
  type FailureCause,
  FILTERS,
  type JsonPath,
  keyParts,
  type MissingValue,
  missingRequired,
  OBJECT_FIELDS,
  type Placeholder,
  parseSourcePath,
  type RenderResult,
  referencedNames,
  renderTemplate,
  renderTemplates,
  resolvePath,
  resolveTimeZone,
  SOURCE_ROOTS,
  STREAM_FIELDS,
  type TemplateContext,
  type TemplateObject,
  TemplateSyntaxError,
  type TimeZoneResolution,
  templatePlaceholders,
} from './template.ts';
export { canonicalTimeZone, parseTimestamp, timeZoneProblem, toIso8601 } from './time.ts';
export type {
  DataReceiver,
  DataTransmit,
  RelayConfig,
  RelaySettings,
  SidecarConfig,
  StreamConfig,
  Violation,
} from './types.ts';
export { formatJsonPath, type ValidationResult, validateConfig } from './validate.ts';
