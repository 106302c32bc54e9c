/**
 * Runs the Edge Impulse simulator on its own, where the official clients can be pointed at it (README.md,
 * "Running the official clients against it"). Until Ctrl-C:
 *
 *   node_modules/.bin/node --import tsx simulators/edge-impulse/serve.ts [--host 127.0.0.2] [--api-key KEY]
 *       [--project-id N] [--hmac-key KEY]
 *
 * Ingestion on http://127.0.0.1:<ephemeral> and http://<host>:4810, the Studio API on http://<host>:4800.
 * Every request is printed as it is answered.
 */
import { parseArgs } from 'node:util';
import type { ReceivedRequest } from '../framework/index.ts';
import { DEFAULT_API_KEY, DEFAULT_PROJECT_ID, EdgeImpulseSimulator, serveForOfficialCli } from './index.ts';

const { values } = parseArgs({
  options: {
    host: { type: 'string' },
    'api-key': { type: 'string', default: DEFAULT_API_KEY },
    'project-id': { type: 'string', default: String(DEFAULT_PROJECT_ID) },
    'hmac-key': { type: 'string' },
  },
});
const apiKey = values['api-key'];
const projectId = Number(values['project-id']);
const sim = new EdgeImpulseSimulator({
  apiKeys: { [apiKey]: { projectId } },
  ...(values['hmac-key'] ? { hmacKeys: { [projectId]: values['hmac-key'] } } : {}),
});
const url = await sim.start();
const cli = await serveForOfficialCli(sim, values.host ? { host: values.host } : {});

const line = (who: string) => (r: ReceivedRequest) => {
  const details = JSON.stringify(r.details.results ?? r.details.error ?? '');
  console.log(`${who} ${r.method} ${r.path} → ${r.status ?? r.outcome} ${details}`);
};
sim.on('answered', line('ingestion'));
cli.studio.on('answered', line('studio   '));

console.log(`Edge Impulse simulator (fake key ${apiKey}, project ${projectId})
  ingestion   ${url} and ${cli.ingestionUrl}
  Studio API  ${cli.studioUrl}
  official uploader:  EI_HOST=${cli.host} edge-impulse-uploader --api-key ${apiKey} FILE…
  Python SDK:         EI_INGESTION_ENDPOINT=${cli.ingestionUrl} EI_API_KEY=${apiKey} python3 …
  inspect:            ${url}/__sim/state | /__sim/requests`);

let stopping = false;
const stop = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: ${sim.samples().length} samples stored; stopping`);
  await cli.studio.stop();
  await sim.stop();
};
process.once('SIGINT', () => void stop('SIGINT'));
process.once('SIGTERM', () => void stop('SIGTERM'));
