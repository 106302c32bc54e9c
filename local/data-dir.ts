/**
 * A data dir: where the local stack keeps its whole state when asked to (`npm start -- --data-dir DIR`,
 * `startLocalStack({ dataDir })`), so that a stop and a start again find every object, queue message, record and
 * secret where they were.
 *
 * One stack at a time: `openDataDir` takes an exclusive lock before anything else touches the folder, and a
 * second stack on the same folder is refused with `DataDirInUseError` (naming the holder's pid) instead of two
 * processes writing the same files. The lock is an SQLite `BEGIN EXCLUSIVE` on `lock.sqlite` held for the
 * stack's life: the operating system drops it when the process ends in any way (even SIGKILL), so there is no
 * stale lock to clean up and no window in which two processes both think they took over a dead one's lock.
 *
 * A folder that is not empty and was never a data dir is refused (NotADataDirError): a mistyped path must not
 * get database files written among someone's own files.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import writeFileAtomic from 'write-file-atomic';
import { loadSqlite } from './quiet-import.ts';

/** What lives where inside a data dir. */
export const DATA_DIR_LAYOUT = {
  /** `{"format": 1, "createdAt": …}`: this folder is a relay data dir, in this layout. */
  marker: 'factory-relay-data.json',
  /** Held with an exclusive SQLite lock while a stack runs on the folder. */
  lock: 'lock.sqlite',
  /** pid and start time of the stack that holds the lock (for the refusal message). */
  owner: 'owner.json',
  /** fauxqs's SQLite database `fauxqs.db`: buckets, objects, queues, messages (in flight ones too). */
  fauxqs: 'fauxqs',
  /** The S3 shim's state (s3-hooks.ts): versioning status, the current version id and size of each object. */
  s3Shim: 's3-shim.sqlite',
  /** DynamoDB Local's `-dbPath` (it writes `shared-local-instance.db` there). */
  dynamodb: 'dynamodb',
  /** The Secrets Manager emulator's secrets, written whole (atomically), mode 0600. */
  secrets: 'secrets.json',
  /** What the stack prefers on its next start (the HTTP API port, so callback URLs given out stay valid). */
  stack: 'stack.json',
} as const;

export const DATA_DIR_FORMAT = 1;

export interface DataDirOwner {
  pid: number;
  startedAt: string;
  host: string;
}

export class DataDirInUseError extends Error {
  override readonly name = 'DataDirInUseError';
  constructor(
    readonly dir: string,
    readonly owner: DataDirOwner | undefined,
  ) {
    const who = owner
      ? `another local stack (pid ${owner.pid} on ${owner.host}, started ${owner.startedAt})`
      : 'another local stack';
    super(
      `the data dir ${dir} is in use by ${who}. Stop that one first (Ctrl-C in its terminal), or give this one another data dir.`,
    );
  }
}

export class NotADataDirError extends Error {
  override readonly name = 'NotADataDirError';
  constructor(
    readonly dir: string,
    reason: string,
  ) {
    super(`${dir} ${reason}`);
  }
}

export interface DataDir {
  /** Absolute path. */
  readonly dir: string;
  /** True when the folder was a data dir already (state from an earlier run). */
  readonly existed: boolean;
  /** Absolute path of an entry of DATA_DIR_LAYOUT. */
  path(entry: keyof typeof DATA_DIR_LAYOUT): string;
  /** Drops the lock (idempotent). */
  release(): void;
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

function ownerOf(dir: string): DataDirOwner | undefined {
  const o = readJson(join(dir, DATA_DIR_LAYOUT.owner)) as Partial<DataDirOwner> | undefined;
  return o && typeof o.pid === 'number' && typeof o.startedAt === 'string'
    ? { pid: o.pid, startedAt: o.startedAt, host: typeof o.host === 'string' ? o.host : 'this machine' }
    : undefined;
}

/** Creates (when missing) and locks a data dir. Throws DataDirInUseError or NotADataDirError. */
export async function openDataDir(dirPath: string): Promise<DataDir> {
  const dir = resolve(dirPath);
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new NotADataDirError(dir, 'is not a folder');
  mkdirSync(dir, { recursive: true });
  const entries = readdirSync(dir);
  const existed = entries.includes(DATA_DIR_LAYOUT.marker);
  if (entries.length > 0 && !existed && !entries.includes(DATA_DIR_LAYOUT.lock))
    throw new NotADataDirError(
      dir,
      `is not empty and is not a relay data dir (no ${DATA_DIR_LAYOUT.marker}): give a new or empty folder, e.g. .relay/data`,
    );

  const { DatabaseSync } = await loadSqlite();
  let db: DatabaseSync | undefined = new DatabaseSync(join(dir, DATA_DIR_LAYOUT.lock), { timeout: 0 });
  try {
    db.exec('PRAGMA locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    db.close();
    if (/locked|busy/i.test((err as Error).message)) throw new DataDirInUseError(dir, ownerOf(dir));
    throw err;
  }

  try {
    if (existed) {
      const marker = readJson(join(dir, DATA_DIR_LAYOUT.marker)) as { format?: unknown } | undefined;
      if (typeof marker?.format !== 'number' || marker.format > DATA_DIR_FORMAT)
        throw new NotADataDirError(
          dir,
          `was written in a data dir format this version does not know (${JSON.stringify(marker?.format)}; this one writes ${DATA_DIR_FORMAT})`,
        );
    } else {
      writeFileAtomic.sync(
        join(dir, DATA_DIR_LAYOUT.marker),
        `${JSON.stringify({ format: DATA_DIR_FORMAT, createdAt: new Date().toISOString() }, null, 2)}\n`,
      );
    }
    const owner: DataDirOwner = { pid: process.pid, startedAt: new Date().toISOString(), host: hostname() };
    writeFileAtomic.sync(join(dir, DATA_DIR_LAYOUT.owner), `${JSON.stringify(owner, null, 2)}\n`);
  } catch (err) {
    db.close();
    throw err;
  }

  return {
    dir,
    existed,
    path: (entry) => join(dir, DATA_DIR_LAYOUT[entry]),
    release() {
      if (!db) return;
      rmSync(join(dir, DATA_DIR_LAYOUT.owner), { force: true });
      db.close();
      db = undefined;
    },
  };
}
