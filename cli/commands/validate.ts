/**
 * `relay validate FILE [--json]`: loads a relay config as the relay would (YAML or JSON, `${VAR}` from the
 * environment, the JSON Schema, then the semantic checks against the registered vendor plug-ins) and prints
 * every finding as a FactoryTX violation `{description, json_path, level}`.
 *
 * Exit 0 when the config is valid (warnings allowed), 1 when it has an error, 2 on a usage error.
 */
import { isAbsolute, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, formatViolations, loadConfigFile } from '#domain/config/load.ts';
import type { Violation } from '#domain/config/types.ts';
import { VENDORS } from '#vendors/registry.ts';
import { type Command, type CommandIo, EXIT, UsageError } from '../command.ts';

const USAGE = `Usage: relay validate FILE [--json]

Checks a relay config file (YAML or JSON; \${VAR} references are read from the environment) and prints its
violations, one per line: level, json_path, description. Exit 0 when it is valid (warnings allowed), 1 when it
has an error, 2 on a usage error.

Options:
  --json       print FactoryTX's envelope instead:
               {"response": {"status": "passed"|"failed", "violations": [...]}, "success": true|false}
  -h, --help   this text`;

/** Every finding for a config file: the loader's warnings, or all of its violations when it is unusable. */
export function configFileViolations(
  path: string,
  env: Record<string, string | undefined>,
): { ok: boolean; violations: Violation[] } {
  try {
    return { ok: true, violations: loadConfigFile(path, VENDORS, env).violations };
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false, violations: err.violations };
    throw err;
  }
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** FactoryTX's `config/validate` answer (sightmachine-factorytx-rest-api): status passed/failed, success. */
export function factoryTxEnvelope(ok: boolean, violations: Violation[]) {
  return { response: { status: ok ? 'passed' : 'failed', violations }, success: ok };
}

export const validateCommand: Command = {
  name: 'validate',
  summary: 'check a relay config file and print its FactoryTX-style violations',
  usage: USAGE,
  async run(args: string[], io: CommandIo): Promise<number> {
    let parsed: ReturnType<typeof parse>;
    try {
      parsed = parse(args);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    if (parsed.values.help) {
      io.out(USAGE);
      return EXIT.ok;
    }
    const [file, ...extra] = parsed.positionals;
    if (file === undefined) throw new UsageError('name the config file to check');
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}" (one file at a time)`);

    const path = isAbsolute(file) ? file : resolve(io.cwd, file);
    const { ok, violations } = configFileViolations(path, io.env);
    if (parsed.values.json) {
      io.out(JSON.stringify(factoryTxEnvelope(ok, violations), null, 2));
    } else {
      if (violations.length > 0) io.out(formatViolations(violations));
      const errors = violations.filter((v) => v.level === 'error').length;
      const warnings = violations.length - errors;
      const counts = [errors ? plural(errors, 'error') : '', warnings ? plural(warnings, 'warning') : '']
        .filter(Boolean)
        .join(', ');
      io.out(ok ? `${file}: valid${counts ? ` (${counts})` : ''}` : `${file}: invalid (${counts})`);
    }
    return ok ? EXIT.ok : EXIT.failed;
  },
};

function parse(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
}
