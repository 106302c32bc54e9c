import { type SimRequest, type SimResponse, Simulator, type SimulatorOptions } from '../framework/index.ts';
import {
  STUDIO_FOREIGN_PROJECT_STATUS,
  STUDIO_HMAC_DEVKEY_IS_PROJECT_KEY,
  STUDIO_UNAUTHORIZED_STATUS,
} from './assumptions.ts';
import { header } from './headers.ts';
import type { EdgeImpulseSimulator } from './simulator.ts';

/**
 * The few Studio API routes (studio.edgeimpulse.com/v1) the official uploader calls before it uploads anything
 * (contract notes: /work/shared/notes/official-clients.md): `GET /v1/api/projects`, `GET /v1/api/{projectId}` and
 * `GET /v1/api/{projectId}/devkeys/hmac`. Shapes from Edge Impulse's published Studio OpenAPI
 * (`ListProjectsResponse`, `ProjectInfoResponse`, `GetHmacDevkeyResponse`): `{success, error?, …}` JSON.
 * Project data is fake; keys, HMAC keys and samples come from the ingestion simulator it is given, so a key that
 * uploads there opens the same project here. Every other `/v1/…` path: 401 without a valid key, else 404.
 */

export interface StudioProjectInfo {
  name?: string;
  owner?: string;
  /** `single_label` (default) or `object_detection`. */
  labelingMethod?: 'single_label' | 'object_detection';
}

export interface EdgeImpulseStudioOptions extends SimulatorOptions {
  /** The ingestion simulator whose API keys, HMAC keys and samples this Studio API shows. */
  ingestion: EdgeImpulseSimulator;
  /** Project id → what the Studio API says about it (default name `Simulated project <id>`). */
  projects?: Record<number, StudioProjectInfo>;
}

/** OpenAPI `Project`: its required fields, filled with fake but well-formed values. */
export interface StudioProject {
  id: number;
  name: string;
  description: string;
  created: string;
  owner: string;
  ownerIsDeveloperProfile: boolean;
  collaborators: unknown[];
  labelingMethod: 'single_label' | 'object_detection';
  metadata: Record<string, string>;
  isEnterpriseProject: boolean;
  whitelabelId: number | null;
  tier: 'free';
  hasPublicVersion: boolean;
  isPublic: boolean;
  allowsLivePublicAccess: boolean;
  indPauseProcessingSamples: boolean;
  publicProjectListed: boolean;
}

export class EdgeImpulseStudioSimulator extends Simulator {
  private readonly ingestion: EdgeImpulseSimulator;
  private readonly info: Record<number, StudioProjectInfo>;
  private readonly created = new Date().toISOString();

  constructor(options: EdgeImpulseStudioOptions) {
    super('edge-impulse-studio', options);
    this.ingestion = options.ingestion;
    this.info = options.projects ?? {};
    this.route('GET', '/v1/api/projects', 'studioListProjects', (req) => this.listProjects(req));
    this.route('GET', '/v1/api/:projectId/devkeys/hmac', 'studioHmacDevkey', (req) => this.hmacDevkey(req));
    this.route('GET', '/v1/api/:projectId', 'studioProjectInfo', (req) => this.projectInfo(req));
    for (const method of ['GET', 'POST', 'PUT', 'DELETE'])
      this.route(method, '/v1/*rest', 'studioOther', (req) => this.other(req));
    this.onState(() => ({ projects: this.info }));
  }

  /** The OpenAPI `Project` this simulator shows for `projectId`. */
  project(projectId: number): StudioProject {
    const info = this.info[projectId] ?? {};
    return {
      id: projectId,
      name: info.name ?? `Simulated project ${projectId}`,
      description: 'A project of the factory-relay Edge Impulse simulator (fake data).',
      created: this.created,
      owner: info.owner ?? 'factory-relay simulator',
      ownerIsDeveloperProfile: false,
      collaborators: [],
      labelingMethod: info.labelingMethod ?? 'single_label',
      metadata: {},
      isEnterpriseProject: false,
      whitelabelId: null,
      tier: 'free',
      hasPublicVersion: false,
      isPublic: false,
      allowsLivePublicAccess: false,
      indPauseProcessingSamples: false,
      publicProjectListed: false,
    };
  }

  private async listProjects(req: SimRequest): Promise<SimResponse> {
    const auth = await this.authenticate(req);
    if ('response' in auth) return auth.response;
    // [D] "if authenticating using an API key, this only lists that project".
    return { status: 200, body: { success: true, projects: [this.project(auth.projectId)] } };
  }

  private async projectInfo(req: SimRequest): Promise<SimResponse> {
    if (!isProjectId(req.params.projectId)) return this.other(req);
    const auth = await this.authenticate(req, req.params.projectId);
    if ('response' in auth) return auth.response;
    const id = auth.projectId;
    const samples = this.ingestion.samples(id).filter((s) => s.category === 'training');
    const labels = [...new Set(samples.flatMap((s) => (s.label === undefined ? [] : [s.label])))].sort();
    const totalLengthMs = samples.reduce(
      (ms, s) => ms + (s.acquisition ? s.acquisition.intervalMs * s.acquisition.valueCount : 0),
      0,
    );
    return {
      status: 200,
      body: {
        success: true,
        project: this.project(id),
        // Under API-key authentication Studio returns no development keys (OpenAPI `listDevkeys` note).
        developmentKeys: {},
        impulse: { created: false, configured: false, complete: false },
        devices: [],
        dataSummary: { totalLengthMs, labels, dataCount: samples.length },
        collaborators: [],
        studioUrl: `${this.url}/studio/${id}`,
      },
    };
  }

  private async hmacDevkey(req: SimRequest): Promise<SimResponse> {
    if (!isProjectId(req.params.projectId)) return this.other(req);
    const auth = await this.authenticate(req, req.params.projectId);
    if ('response' in auth) return auth.response;
    const hmacKey = STUDIO_HMAC_DEVKEY_IS_PROJECT_KEY ? this.ingestion.hmacKeyOf(auth.projectId) : undefined;
    return { status: 200, body: hmacKey === undefined ? { success: true } : { success: true, hmacKey } };
  }

  private async other(req: SimRequest): Promise<SimResponse> {
    const auth = await this.authenticate(req);
    if ('response' in auth) return auth.response;
    return failure(404, `Not simulated: ${req.method} ${req.path} (only the uploader's Studio routes are)`);
  }

  /** x-api-key → project; with `pathProjectId`, the key must open that project. */
  private async authenticate(
    req: SimRequest,
    pathProjectId?: string,
  ): Promise<{ projectId: number } | { response: SimResponse }> {
    await req.body(64 * 1024);
    const auth = this.ingestion.projectForApiKey(header(req.headers, 'x-api-key'));
    if ('error' in auth) {
      req.note({ error: auth.error });
      return { response: failure(STUDIO_UNAUTHORIZED_STATUS, auth.error) };
    }
    req.note({ projectId: auth.projectId });
    if (pathProjectId !== undefined && pathProjectId !== String(auth.projectId)) {
      const error = `This API key has no access to project ${pathProjectId}`;
      req.note({ error });
      return { response: failure(STUDIO_FOREIGN_PROJECT_STATUS, error) };
    }
    return auth;
  }
}

/** `{projectId}` is an integer (OpenAPI `ProjectIdParameter`); `/v1/api/organizations` and the like are not. */
function isProjectId(value: string | undefined): boolean {
  return value !== undefined && /^\d+$/.test(value);
}

function failure(status: number, error: string): SimResponse {
  return { status, body: { success: false, error } };
}
