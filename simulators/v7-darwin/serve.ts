/**
 * Runs the V7 Darwin simulator on its own, for an outside client such as darwin-py:
 *
 *   node_modules/.bin/node --import tsx simulators/v7-darwin/serve.ts [--port 4812] [--config options.json]
 *
 * Prints one JSON line `{url, darwinBaseUrl, apiKeys}` once listening, then serves until SIGINT/SIGTERM.
 * `--config` is a JSON file of `V7DarwinOptions` (every option but `clock`); without it, `SERVE_DEFAULTS`.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { V7DarwinOptions } from './types.ts';
import { V7DarwinSimulator } from './v7-darwin.ts';

/**
 * A team a darwin-py run can use as is. The key has darwin-py's shape (7-character prefix, a dot, 40 characters
 * in all: `darwin authenticate` checks it) and is obviously fake.
 */
export const SERVE_DEFAULTS: V7DarwinOptions = {
  apiKeys: { 'SIMFAKE.sim-fake-api-key-not-a-secret-00': { team: 'acme' } },
  teams: {
    acme: {
      datasets: ['line-1', 'line-2'],
      storages: [
        {
          name: 'acme-bucket',
          bucket: 'acme-factory-images',
          region: 'eu-west-1',
          prefix: 'darwin',
          default: true,
        },
        { name: 'acme-readonly', bucket: 'acme-factory-archive', region: 'eu-west-1', readonly: true },
      ],
      tags: ['defect', 'ok'],
    },
  },
};

export async function serve(
  argv: string[],
  print: (line: string) => void = (line) => process.stdout.write(line),
): Promise<V7DarwinSimulator> {
  const { values } = parseArgs({
    args: argv,
    options: { port: { type: 'string' }, config: { type: 'string' } },
  });
  const options: V7DarwinOptions = values.config
    ? (JSON.parse(readFileSync(values.config, 'utf8')) as V7DarwinOptions)
    : SERVE_DEFAULTS;
  const sim = new V7DarwinSimulator(options);
  const url = await sim.start({ port: Number(values.port ?? 0) });
  print(`${JSON.stringify({ url, darwinBaseUrl: url, apiKeys: Object.keys(options.apiKeys) })}\n`);
  return sim;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const sim = await serve(process.argv.slice(2));
  const stop = () => {
    void sim.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
