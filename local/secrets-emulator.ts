/**
 * A tiny Secrets Manager emulator: just enough of the AWS JSON 1.1 protocol for the relay's real SDK client
 * (`@aws-sdk/client-secrets-manager`) to work unchanged. Loopback only, in memory.
 *
 * Operations (header `X-Amz-Target: secretsmanager.<Op>`): GetSecretValue, CreateSecret, PutSecretValue,
 * DescribeSecret. Errors use the service's shape: HTTP 400, `x-amzn-errortype` header and
 * `{"__type": "<Code>", "Message": "..."}` (ResourceNotFoundException, ResourceExistsException,
 * InvalidParameterException, InvalidRequestException, UnknownOperationException). Signatures are not checked.
 *
 * With `file` (a data dir's `secrets.json`) the secrets survive a restart: read at start, and after every change
 * written whole to a temporary file and renamed over it (write-file-atomic), mode 0600. Neither the file's
 * content nor a secret value is ever put in an error message or a log line.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import writeFileAtomic from 'write-file-atomic';

export interface SecretsEmulatorOptions {
  region?: string;
  accountId?: string;
  /** Port on 127.0.0.1 (default: ephemeral). */
  port?: number;
  /** Keep the secrets in this JSON file (read at start, rewritten atomically on each change); default: memory. */
  file?: string;
}

const SECRETS_FILE_FORMAT = 1;

interface SecretVersion {
  versionId: string;
  secretString?: string;
  secretBinary?: string;
  stages: string[];
  createdDate: number;
}

interface Secret {
  name: string;
  arn: string;
  description?: string;
  createdDate: number;
  lastChangedDate: number;
  lastAccessedDate?: number;
  tags: Array<{ Key: string; Value: string }>;
  versions: SecretVersion[];
}

type Json = Record<string, unknown>;

class ServiceError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const epochSeconds = () => Math.round(Date.now()) / 1000;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

export class SecretsEmulator {
  readonly region: string;
  readonly accountId: string;
  private readonly secrets = new Map<string, Secret>();
  /** Changed since the last save. */
  private dirty = false;
  private server?: Server;
  private url = '';
  /** Every request's operation name, in order (for tests and the demo). */
  readonly calls: string[] = [];

  constructor(private readonly opts: SecretsEmulatorOptions = {}) {
    this.region = opts.region ?? 'us-east-1';
    this.accountId = opts.accountId ?? '000000000000';
  }

  get endpoint(): string {
    if (!this.url) throw new Error('secrets emulator not started');
    return this.url;
  }

  async start(): Promise<this> {
    if (this.opts.file) this.load(this.opts.file);
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.send(res, 500, { __type: 'InternalServiceError', Message: String(err) });
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port ?? 0, '127.0.0.1', () => resolve());
    });
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    this.server = server;
    this.url = `http://127.0.0.1:${port}`;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  /** Create or overwrite a secret directly (seeding; no HTTP). Returns its ARN. */
  put(name: string, value: string): string {
    const existing = this.secrets.get(name);
    const arn = existing
      ? this.putValue(existing, { SecretString: value }).arn
      : this.create({ Name: name, SecretString: value }).arn;
    this.save();
    return arn;
  }

  /** Reads the secrets file (a missing file is an empty store). The error never quotes the file's content. */
  private load(file: string): void {
    if (!existsSync(file)) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? 'not valid JSON';
      throw new Error(`the Secrets Manager emulator's file ${file} cannot be read (${why})`);
    }
    const doc = parsed as { format?: unknown; secrets?: unknown };
    if (doc?.format !== SECRETS_FILE_FORMAT || !Array.isArray(doc.secrets))
      throw new Error(
        `the Secrets Manager emulator's file ${file} is not in the expected format (format ${SECRETS_FILE_FORMAT} with a secrets list)`,
      );
    for (const raw of doc.secrets as Secret[]) {
      if (typeof raw?.name !== 'string' || typeof raw.arn !== 'string' || !Array.isArray(raw.versions))
        throw new Error(
          `the Secrets Manager emulator's file ${file} holds a secret without name, ARN or versions`,
        );
      this.secrets.set(raw.name, raw);
    }
  }

  /** Writes every secret to the file, whole and atomically, when something changed (no-op in memory). */
  private save(): void {
    if (!this.opts.file || !this.dirty) return;
    this.dirty = false;
    const doc = { format: SECRETS_FILE_FORMAT, secrets: [...this.secrets.values()] };
    writeFileAtomic.sync(this.opts.file, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600 });
  }

  /** The current value of a secret, or undefined. */
  get(name: string): string | undefined {
    return this.secrets.get(name)?.versions.find((v) => v.stages.includes('AWSCURRENT'))?.secretString;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const target = String(req.headers['x-amz-target'] ?? '');
    const op = target.startsWith('secretsmanager.') ? target.slice('secretsmanager.'.length) : target;
    this.calls.push(op);
    if (req.method !== 'POST') {
      this.send(res, 400, { __type: 'UnknownOperationException', Message: 'Only POST is supported' });
      return;
    }
    let input: Json;
    try {
      const text = Buffer.concat(chunks).toString('utf8');
      input = text ? (JSON.parse(text) as Json) : {};
    } catch {
      this.send(res, 400, { __type: 'SerializationException', Message: 'Request body is not valid JSON' });
      return;
    }
    try {
      const out = this.dispatch(op, input);
      this.save();
      this.send(res, 200, out);
    } catch (err) {
      if (err instanceof ServiceError) this.send(res, 400, { __type: err.code, Message: err.message });
      else throw err;
    }
  }

  private dispatch(op: string, input: Json): Json {
    switch (op) {
      case 'GetSecretValue':
        return this.getSecretValue(input);
      case 'CreateSecret': {
        const s = this.create(input);
        const v = s.versions[s.versions.length - 1]!;
        return { ARN: s.arn, Name: s.name, VersionId: v.versionId };
      }
      case 'PutSecretValue': {
        const s = this.find(input.SecretId);
        const v = this.putValue(s, input).version;
        return { ARN: s.arn, Name: s.name, VersionId: v.versionId, VersionStages: v.stages };
      }
      case 'DescribeSecret':
        return this.describe(this.find(input.SecretId));
      default:
        throw new ServiceError(
          'UnknownOperationException',
          `Operation ${op || '(none)'} is not supported here`,
        );
    }
  }

  private send(res: ServerResponse, status: number, body: Json): void {
    const text = JSON.stringify(body);
    const headers: Record<string, string> = {
      'content-type': 'application/x-amz-json-1.1',
      'content-length': String(Buffer.byteLength(text)),
      'x-amzn-requestid': randomUUID(),
    };
    if (status >= 400 && typeof body.__type === 'string') headers['x-amzn-errortype'] = body.__type;
    res.writeHead(status, headers).end(text);
  }

  private find(secretId: unknown): Secret {
    const id = str(secretId);
    if (!id) throw new ServiceError('InvalidParameterException', 'You must provide a SecretId.');
    const byName = this.secrets.get(id);
    if (byName) return byName;
    for (const s of this.secrets.values()) {
      // Full ARN, or a partial ARN without the six random characters.
      if (s.arn === id || s.arn.replace(/-[A-Za-z0-9]{6}$/, '') === id) return s;
    }
    throw new ServiceError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
  }

  private create(input: Json): Secret {
    const name = str(input.Name);
    if (!name) throw new ServiceError('InvalidParameterException', 'You must provide a Name.');
    if (this.secrets.has(name))
      throw new ServiceError(
        'ResourceExistsException',
        `The operation failed because the secret ${name} already exists.`,
      );
    const suffix = randomBytes(6)
      .toString('base64')
      .replace(/[^A-Za-z0-9]/g, 'x')
      .slice(0, 6);
    const now = epochSeconds();
    const secret: Secret = {
      name,
      arn: `arn:aws:secretsmanager:${this.region}:${this.accountId}:secret:${name}-${suffix}`,
      description: str(input.Description),
      createdDate: now,
      lastChangedDate: now,
      tags: Array.isArray(input.Tags) ? (input.Tags as Array<{ Key: string; Value: string }>) : [],
      versions: [],
    };
    this.secrets.set(name, secret);
    this.dirty = true;
    if (input.SecretString !== undefined || input.SecretBinary !== undefined) this.putValue(secret, input);
    return secret;
  }

  private putValue(secret: Secret, input: Json): { arn: string; version: SecretVersion } {
    const secretString = typeof input.SecretString === 'string' ? input.SecretString : undefined;
    const secretBinary = typeof input.SecretBinary === 'string' ? input.SecretBinary : undefined;
    if (secretString === undefined && secretBinary === undefined)
      throw new ServiceError(
        'InvalidRequestException',
        'You must provide either SecretString or SecretBinary.',
      );
    const versionId = str(input.ClientRequestToken) ?? randomUUID();
    const same = secret.versions.find((v) => v.versionId === versionId);
    if (same) return { arn: secret.arn, version: same }; // idempotent retry
    const stages = Array.isArray(input.VersionStages) ? (input.VersionStages as string[]) : ['AWSCURRENT'];
    if (stages.includes('AWSCURRENT')) {
      for (const v of secret.versions) {
        v.stages = v.stages.filter((s) => s !== 'AWSPREVIOUS');
        if (v.stages.includes('AWSCURRENT'))
          v.stages = [...v.stages.filter((s) => s !== 'AWSCURRENT'), 'AWSPREVIOUS'];
      }
    }
    const version: SecretVersion = {
      versionId,
      secretString,
      secretBinary,
      stages,
      createdDate: epochSeconds(),
    };
    secret.versions.push(version);
    secret.versions = secret.versions.filter((v) => v.stages.length > 0);
    secret.lastChangedDate = version.createdDate;
    this.dirty = true;
    return { arn: secret.arn, version };
  }

  private getSecretValue(input: Json): Json {
    const secret = this.find(input.SecretId);
    const versionId = str(input.VersionId);
    const stage = str(input.VersionStage) ?? (versionId ? undefined : 'AWSCURRENT');
    const version = secret.versions.find(
      (v) => (!versionId || v.versionId === versionId) && (!stage || v.stages.includes(stage)),
    );
    if (!version) {
      const what = versionId ? `VersionId: ${versionId}` : `VersionStage: ${stage}`;
      throw new ServiceError(
        'ResourceNotFoundException',
        `Secrets Manager can't find the specified secret value for ${what}`,
      );
    }
    const accessed = Math.floor(Date.now() / 86_400_000) * 86_400;
    if (secret.lastAccessedDate !== accessed) this.dirty = true;
    secret.lastAccessedDate = accessed;
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.versionId,
      ...(version.secretString !== undefined ? { SecretString: version.secretString } : {}),
      ...(version.secretBinary !== undefined ? { SecretBinary: version.secretBinary } : {}),
      VersionStages: version.stages,
      CreatedDate: version.createdDate,
    };
  }

  private describe(secret: Secret): Json {
    const stages: Record<string, string[]> = {};
    for (const v of secret.versions) stages[v.versionId] = v.stages;
    return {
      ARN: secret.arn,
      Name: secret.name,
      ...(secret.description ? { Description: secret.description } : {}),
      LastChangedDate: secret.lastChangedDate,
      ...(secret.lastAccessedDate ? { LastAccessedDate: secret.lastAccessedDate } : {}),
      Tags: secret.tags,
      VersionIdsToStages: stages,
      CreatedDate: secret.createdDate,
    };
  }
}

export async function startSecretsEmulator(opts: SecretsEmulatorOptions = {}): Promise<SecretsEmulator> {
  return new SecretsEmulator(opts).start();
}
