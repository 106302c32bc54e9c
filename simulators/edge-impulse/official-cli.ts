import type { EdgeImpulseSimulator } from './simulator.ts';
import { type EdgeImpulseStudioOptions, EdgeImpulseStudioSimulator } from './studio.ts';

/**
 * Where the official uploader (edge-impulse-cli 1.39.2) looks when `EI_HOST` is an IP address [C] (EI-CLI
 * `cli-common/config.ts`): ingestion at `http://<ip>:4810`, the Studio API at `http://<ip>:4800`. Neither port can
 * be changed, and `npm start` already uses both on 127.0.0.1 (S3 4800, Instrumental 4810). Every address of
 * 127.0.0.0/8 is loopback, so the simulator answers the uploader on another one: `EI_HOST=127.0.0.2`.
 */
export const OFFICIAL_CLI_HOST = '127.0.0.2';
export const OFFICIAL_CLI_INGESTION_PORT = 4810;
export const OFFICIAL_CLI_STUDIO_PORT = 4800;

export interface OfficialCliSettings {
  /** Default 127.0.0.2 (`EI_HOST` to give the uploader). */
  host?: string;
  /** Default 4810; other values only for tests (the uploader cannot use them). */
  ingestionPort?: number;
  /** Default 4800; likewise. */
  studioPort?: number;
  /** Fake project data the Studio API shows. */
  projects?: EdgeImpulseStudioOptions['projects'];
}

export interface OfficialCliEndpoints {
  /** What to set `EI_HOST` to. */
  host: string;
  /** The started ingestion simulator, also answering here. */
  ingestionUrl: string;
  studioUrl: string;
  studio: EdgeImpulseStudioSimulator;
}

/**
 * Makes a started ingestion simulator reachable where the official uploader looks: it also listens on
 * `<host>:4810`, and a Studio API simulator sharing its keys and samples starts on `<host>:4800`. The caller stops
 * both (`studio.stop()`, and `sim.stop()` closes the extra address). On failure (the address cannot be bound, a
 * port is taken) nothing is left listening.
 */
export async function serveForOfficialCli(
  sim: EdgeImpulseSimulator,
  settings: OfficialCliSettings = {},
): Promise<OfficialCliEndpoints> {
  const host = settings.host ?? OFFICIAL_CLI_HOST;
  const studio = new EdgeImpulseStudioSimulator({ ingestion: sim, projects: settings.projects ?? {} });
  const studioUrl = await studio.start({ host, port: settings.studioPort ?? OFFICIAL_CLI_STUDIO_PORT });
  try {
    const ingestionUrl = await sim.listenAlso({
      host,
      port: settings.ingestionPort ?? OFFICIAL_CLI_INGESTION_PORT,
    });
    return { host, ingestionUrl, studioUrl, studio };
  } catch (err) {
    await studio.stop();
    throw err;
  }
}
