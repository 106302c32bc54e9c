/**
 * `relay <command>`: a small dispatcher that later ops commands (`relay status`, `relay where …`) join by adding
 * one Command to COMMANDS. cli/relay.mjs is the executable (it brings Node 22 and tsx); this is the logic.
 *
 * Exit codes, for every command: 0 done (for `validate`: valid, warnings allowed), 1 the command ran and found
 * a problem (or failed: one line says why, never a stack trace), 2 a usage error (unknown command or option,
 * missing argument).
 */
import { createRequire } from 'node:module';
import { type Command, type CommandIo, EXIT, UsageError } from './command.ts';
import { OPS_COMMANDS } from './commands/ops.ts';
import { uiCommand } from './commands/ui.ts';
import { validateCommand } from './commands/validate.ts';

export const COMMANDS: readonly Command[] = [validateCommand, ...OPS_COMMANDS, uiCommand];

const version = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

export function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'Usage: relay <command> [options]     (npx relay … in the project folder)',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    "relay <command> --help shows a command's options; relay --version the version and its Node.js.",
  ].join('\n');
}

function processIo(): CommandIo {
  return {
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
    cwd: process.cwd(),
    env: process.env,
  };
}

/** Runs one command line; answers the exit code. `commands`: tests pass ones built with stand-ins. */
export async function main(
  argv: string[],
  io: CommandIo = processIo(),
  commands: readonly Command[] = COMMANDS,
): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    const topic = name === 'help' ? commands.find((c) => c.name === args[0]) : undefined;
    io.out(topic ? topic.usage : usage());
    return EXIT.ok;
  }
  if (name === '--version' || name === '-v') {
    io.out(`relay ${version} (node ${process.version})`);
    return EXIT.ok;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    io.err(`relay: unknown command "${name}"\n\n${usage()}`);
    return EXIT.usage;
  }
  try {
    return await command.run(args, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`relay ${command.name}: ${err.message}\n\n${command.usage}`);
      return EXIT.usage;
    }
    // Anything else a command did not expect: one line, not a stack trace (RELAY_DEBUG=1 shows it).
    io.err(`relay ${command.name}: ${err instanceof Error ? err.message : String(err)}`);
    if (io.env.RELAY_DEBUG && err instanceof Error && err.stack) io.err(err.stack);
    return EXIT.failed;
  }
}
