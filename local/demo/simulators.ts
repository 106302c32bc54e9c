/**
 * The vendor simulators `npm start` runs, with fake demo credentials, on 127.0.0.1. Each gets a fixed default
 * port (4810…4813, so URLs stay the same between runs) and falls back to an ephemeral port when it is taken.
 * With fixed ports, the Edge Impulse simulator also answers where Edge Impulse's official uploader looks
 * (`EI_HOST=127.0.0.2`: ingestion 127.0.0.2:4810, Studio API 127.0.0.2:4800), when that address can be bound.
 */
import { createServer } from 'node:net';
import { EdgeImpulseSimulator, serveForOfficialCli } from '#simulators/edge-impulse/index.ts';
import type { Simulator } from '#simulators/framework/index.ts';
import { InstaVid360Simulator } from '#simulators/instavid360/index.ts';
import { InstrumentalSimulator } from '#simulators/instrumental/index.ts';
import { V7DarwinSimulator } from '#simulators/v7-darwin/index.ts';

/**
 * Demo credentials. Fake by construction: the Instrumental key has Instrumental's documented shape
 * (`<prefix>:INST:V1:<identifier>:<secret>`) but obviously made-up parts, never 12+ alphanumerics after
 * `INST:V1:`; the Edge Impulse key is not `ei_` + 32 hex digits.
 */
export const DEMO_CREDENTIALS = {
  instrumental: 'demo:relay:INST:V1:demo-key-id:demo-secret',
  edgeImpulse: 'ei_demo_key_local',
  v7Darwin: 'demo-v7-api-key',
  instaVid360: 'demo-instavid-token',
} as const;

export const DEFAULT_PORTS = {
  s3: 4800,
  instrumental: 4810,
  edgeImpulse: 4811,
  v7Darwin: 4812,
  instaVid360: 4813,
} as const;

export interface RunningSimulator {
  /** The simulators/<name>/ folder. */
  name: string;
  sim: Simulator;
  url: string;
  /** The port it asked for (0: ephemeral); `url` has another when that one was taken. */
  preferredPort: number;
  /** Its fake demo key: what a destination pointing at it gets as its API key. */
  apiKey: string;
  /** How a client authenticates, for the banner. */
  credentials: string;
  readme: string;
}

export interface DemoSimulators {
  instrumental: InstrumentalSimulator;
  all: RunningSimulator[];
  stop(): Promise<void>;
}

function addressInUse(err: unknown): boolean {
  return (err as { code?: unknown } | undefined)?.code === 'EADDRINUSE';
}

/** Starts on `port` when it is free, else on an ephemeral port. `port` 0 means ephemeral straight away. */
export async function startOnPreferredPort(sim: Simulator, port: number): Promise<string> {
  if (port > 0) {
    try {
      return await sim.start({ port });
    } catch (err) {
      if (!addressInUse(err)) throw err;
    }
  }
  return sim.start();
}

/** `port` when nothing listens on 127.0.0.1:port right now, else 0 (ephemeral). Racy, but good enough. */
export function freeOrEphemeral(port: number): Promise<number> {
  if (port <= 0) return Promise.resolve(0);
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(0));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(port)));
  });
}

export interface SimulatorSettings {
  /** Use fixed default ports when free (default true); false: every port ephemeral. */
  fixedPorts?: boolean;
  /** Instrumental's PENDING_VALIDATION time (default 1500 ms, so demo files are UPLOADED within seconds). */
  validationDelayMs?: number;
}

export async function startDemoSimulators(settings: SimulatorSettings = {}): Promise<DemoSimulators> {
  const port = (p: number) => (settings.fixedPorts === false ? 0 : p);
  const instrumental = new InstrumentalSimulator({
    apiKeys: [DEMO_CREDENTIALS.instrumental],
    validationDelayMs: settings.validationDelayMs ?? 1500,
  });
  const edgeImpulse = new EdgeImpulseSimulator({
    apiKeys: { [DEMO_CREDENTIALS.edgeImpulse]: { projectId: 1 } },
  });
  const specs: Array<{ name: string; sim: Simulator; port: number; apiKey: string; credentials: string }> = [
    {
      name: 'instrumental',
      sim: instrumental,
      port: port(DEFAULT_PORTS.instrumental),
      apiKey: DEMO_CREDENTIALS.instrumental,
      credentials: `header instrumental-api-key: ${DEMO_CREDENTIALS.instrumental}`,
    },
    {
      name: 'edge-impulse',
      sim: edgeImpulse,
      port: port(DEFAULT_PORTS.edgeImpulse),
      apiKey: DEMO_CREDENTIALS.edgeImpulse,
      credentials: `header x-api-key: ${DEMO_CREDENTIALS.edgeImpulse} (project 1)`,
    },
    {
      name: 'v7-darwin',
      sim: new V7DarwinSimulator({
        apiKeys: { [DEMO_CREDENTIALS.v7Darwin]: { team: 'demo-factory' } },
        // The tags the demo files' sidecars carry exist in the team (config/example.yaml sends them).
        teams: {
          'demo-factory': { datasets: ['line-1'], tags: ['defect', 'ok', 'night-shift', 'demo', 'final-qa'] },
        },
      }),
      port: port(DEFAULT_PORTS.v7Darwin),
      apiKey: DEMO_CREDENTIALS.v7Darwin,
      credentials: `header Authorization: ApiKey ${DEMO_CREDENTIALS.v7Darwin} (team demo-factory, dataset line-1)`,
    },
    {
      name: 'instavid360',
      sim: new InstaVid360Simulator({ tokens: { [DEMO_CREDENTIALS.instaVid360]: { user: 'demo' } } }),
      port: port(DEFAULT_PORTS.instaVid360),
      apiKey: DEMO_CREDENTIALS.instaVid360,
      credentials: `header Authorization: Bearer ${DEMO_CREDENTIALS.instaVid360}`,
    },
  ];
  const all: RunningSimulator[] = [];
  const stop = async () => {
    await Promise.allSettled(all.map((s) => s.sim.stop()));
  };
  try {
    for (const s of specs) {
      const url = await startOnPreferredPort(s.sim, s.port);
      all.push({
        name: s.name,
        sim: s.sim,
        url,
        preferredPort: s.port,
        apiKey: s.apiKey,
        credentials: s.credentials,
        readme: `simulators/${s.name}/README.md`,
      });
    }
  } catch (err) {
    await stop();
    throw err;
  }
  if (settings.fixedPorts !== false) await addOfficialUploaderEndpoints(edgeImpulse, all);
  return { instrumental, all, stop };
}

/**
 * Best effort, never fatal: the official uploader's fixed ports on 127.0.0.2 may be taken (another `npm start`)
 * or the address may not exist (macOS configures only 127.0.0.1). Then the banner says so and the demo goes on.
 */
async function addOfficialUploaderEndpoints(
  sim: EdgeImpulseSimulator,
  all: RunningSimulator[],
): Promise<void> {
  const entry = all.find((s) => s.sim === sim);
  try {
    const cli = await serveForOfficialCli(sim);
    all.push({
      name: 'ei-studio',
      sim: cli.studio,
      url: cli.studioUrl,
      preferredPort: new URL(cli.studioUrl).port ? Number(new URL(cli.studioUrl).port) : 0,
      apiKey: DEMO_CREDENTIALS.edgeImpulse,
      credentials: `Edge Impulse's official uploader: EI_HOST=${cli.host} edge-impulse-uploader --api-key ${DEMO_CREDENTIALS.edgeImpulse} FILE (its ingestion: ${cli.ingestionUrl}, the edge-impulse simulator)`,
      readme: 'simulators/edge-impulse/README.md',
    });
  } catch (err) {
    if (entry) entry.credentials += ` (no endpoints for the official uploader: ${(err as Error).message})`;
  }
}
