/** What every `relay` command is: a name, a summary for `relay --help`, its usage and a run function. */

/** Where a command writes and what it runs in (tests pass their own). */
export interface CommandIo {
  out(text: string): void;
  err(text: string): void;
  /** Relative paths are read from here. */
  cwd: string;
  env: Record<string, string | undefined>;
}

export interface Command {
  name: string;
  /** One line for `relay --help`. */
  summary: string;
  /** Its full usage text (`relay <name> --help`, and after a usage error). */
  usage: string;
  /** Answers the exit code (EXIT); throws UsageError for a bad command line. */
  run(args: string[], io: CommandIo): Promise<number>;
}

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** A bad command line: the dispatcher prints the message and the command's usage, and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
