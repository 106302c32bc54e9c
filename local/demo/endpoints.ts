/**
 * `.relay/endpoints.json`: every endpoint, port and resource name a running `npm start` really uses, for
 * scripts and people (`jq -r .s3 .relay/endpoints.json`). Written once the stack is up, removed when it stops.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { LocalStack } from '../stack.ts';
import type { DestinationPlan } from './destinations.ts';
import type { RunningSimulator } from './simulators.ts';

export interface EndpointsFile {
  /** The process serving them: a file whose pid is gone is stale. */
  pid: number;
  startedAt: string;
  config: string;
  region: string;
  /** S3 and SQS share one endpoint (fauxqs). */
  s3: string;
  sqs: string;
  dynamodb: string | undefined;
  secretsManager: string;
  httpApi: string;
  /** The ops page (ui/), served by the HTTP API. */
  ui: string;
  /** Preferred port → port used, for each endpoint that had to move. */
  movedPorts: Record<string, { preferred: number; used: number }>;
  simulators: Record<string, string>;
  destinations: Record<string, { vendor: string; baseUrl: string; via: string }>;
  /** Hosts the loopback guard lets through besides loopback. */
  allowedHosts: string[];
  table: string;
  buckets: { ingest: string; results: string };
  queues: Record<string, { name: string; url: string; dlq: string }>;
  inbox: string;
  logFile: string;
  /** Where the local stack keeps its state (`--data-dir`), or null: in memory, gone on exit. */
  dataDir: string | null;
}

const portOf = (url: string) => Number(new URL(url).port);

export function endpointsOf(input: {
  stack: LocalStack;
  sims: readonly RunningSimulator[];
  plans: readonly DestinationPlan[];
  allowedHosts: string[];
  configFile: string;
  preferredS3Port: number;
  inbox: string;
  logFile: string;
  now?: Date;
}): EndpointsFile {
  const { stack, sims } = input;
  const movedPorts: EndpointsFile['movedPorts'] = {};
  if (input.preferredS3Port > 0 && portOf(stack.endpoints.s3) !== input.preferredS3Port)
    movedPorts.s3 = { preferred: input.preferredS3Port, used: portOf(stack.endpoints.s3) };
  for (const s of sims) {
    if (s.preferredPort > 0 && portOf(s.url) !== s.preferredPort)
      movedPorts[s.name] = { preferred: s.preferredPort, used: portOf(s.url) };
  }
  const queue = (q: LocalStack['queues']['ingest']) => ({ name: q.name, url: q.url, dlq: q.dlq.url });
  return {
    pid: process.pid,
    startedAt: (input.now ?? new Date()).toISOString(),
    config: input.configFile,
    region: stack.region,
    s3: stack.endpoints.s3,
    sqs: stack.endpoints.sqs,
    dynamodb: stack.endpoints.dynamodb,
    secretsManager: stack.endpoints.secretsManager,
    httpApi: stack.apiUrl,
    ui: `${stack.apiUrl}/ui/`,
    movedPorts,
    simulators: Object.fromEntries(sims.map((s) => [s.name, s.url])),
    destinations: Object.fromEntries(
      input.plans.map((p) => [
        p.transmit.transmit_name,
        {
          vendor: p.transmit.transmit_type,
          baseUrl: p.transmit.base_url,
          via: p.simulator ? `simulator ${p.simulator.name}` : 'as configured',
        },
      ]),
    ),
    allowedHosts: input.allowedHosts,
    table: stack.tableName,
    buckets: stack.buckets,
    queues: {
      ingest: queue(stack.queues.ingest),
      ...Object.fromEntries(Object.entries(stack.queues.vendors).map(([v, q]) => [v, queue(q)])),
    },
    inbox: input.inbox,
    logFile: input.logFile,
    dataDir: stack.dataDir ?? null,
  };
}

/** Writes the file whole (a reader never sees half of it). */
export function writeEndpointsFile(path: string, data: EndpointsFile): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(data, null, 2)}\n`);
  renameSync(tmp, path);
}

export function removeEndpointsFile(path: string): void {
  rmSync(path, { force: true });
}
