/**
 * Section 4: the minified bundle of each Lambda and its module init (cold start), built with esbuild's JS API
 * and the settings the CDK construct gives the esbuild CLI (lib/bundling.ts: one source for both).
 *
 * Module init is the time `import()` of the bundle takes in a fresh Node process — what a Lambda cold start
 * spends before the handler runs — measured in a child per run (the project's Node 22, nothing else loaded),
 * median of INIT_RUNS, without flags (the deployed setting now) and with `--enable-source-maps` (the setting the
 * construct used before). Wall time moves with other load on the CPUs; the child's CPU time (user + system,
 * `process.cpuUsage`) much less, so both are printed.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { loadConfigFile } from '#domain/config/load.ts';
import { VENDORS } from '#vendors/registry.ts';
import { bakeConfigJson, DEFAULT_CONFIG_PATH } from '../lib/app.ts';
import { esbuildOptions, writeBundleValidators } from '../lib/bundling.ts';

/** Every handler entry of lib/factory-relay-stack.ts (`lambdas/handlers/<name>.ts`). */
export const HANDLERS = ['router', 'forwarder', 'poller', 'callback', 'ops', 'aggregator'] as const;

/** Runs per figure (the median is printed). */
export const INIT_RUNS = 10;

/** The issue's figures for main before this work (issue 12): size, init, init with --enable-source-maps. */
export const PREVIOUS: Readonly<Record<string, { kib: number; initMs: number; initMapsMs: number }>> = {
  router: { kib: 819, initMs: 245, initMapsMs: 369 },
  forwarder: { kib: 1555, initMs: 310, initMapsMs: 445 },
  poller: { kib: 1555, initMs: 310, initMapsMs: 445 },
  callback: { kib: 1555, initMs: 310, initMapsMs: 445 },
};

export interface InitTime {
  /** Median wall time of `import()`, ms. */
  wallMs: number;
  /** Median CPU time (user + system) of the child during `import()`, ms. */
  cpuMs: number;
}

export interface BundleSize {
  name: string;
  rawBytes: number;
  gzipBytes: number;
  mapBytes: number;
  inputs: number;
  buildMs: number;
  /** Module init as deployed (no flags). */
  init: InitTime;
  /** Module init with `--enable-source-maps`. */
  initSourceMaps: InitTime;
}

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

const PROBE = `const c0 = process.cpuUsage(); const t0 = performance.now();
await import(process.argv[1]);
const t1 = performance.now(); const c = process.cpuUsage(c0);
process.stdout.write(JSON.stringify({ wallMs: t1 - t0, cpuMs: (c.user + c.system) / 1000 }));`;

function runProbe(file: string, flags: readonly string[]): Promise<InitTime> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [...flags, '--input-type=module', '-e', PROBE, pathToFileURL(file).href],
      // A clean environment: no NODE_OPTIONS (tsx) leaks into the measured process.
      { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`init probe of ${file} exited ${code}: ${err.slice(0, 500)}`));
      else resolve(JSON.parse(out) as InitTime);
    });
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

/** Median module init of a bundle over `runs` fresh processes. */
export async function measureInit(
  file: string,
  flags: readonly string[] = [],
  runs = INIT_RUNS,
): Promise<InitTime> {
  const samples: InitTime[] = [];
  for (let i = 0; i < runs; i++) samples.push(await runProbe(file, flags));
  return { wallMs: median(samples.map((s) => s.wallMs)), cpuMs: median(samples.map((s) => s.cpuMs)) };
}

/**
 * What a user would build instead: the forwarder with AWS SDK v3 clients (bench/sdk-forwarder-probe.ts), the SDK
 * bundled with the relay's settings, and the SDK left to the Lambda runtime (NodejsFunction's default
 * `externalModules: ['@aws-sdk/*']`), resolved from node_modules as the runtime resolves its own copy:
 * unbundled CommonJS, one file per module.
 */
export interface SdkVariant {
  name: string;
  rawBytes: number;
  init: InitTime;
}

export interface BundleFigures {
  sizes: BundleSize[];
  /** The forwarder with SDK v3 clients: bundled, and left to the runtime. */
  sdk: { bundled: SdkVariant; external: SdkVariant };
  configPath: string;
  configBytes: number;
  runs: number;
  previous: typeof PREVIOUS;
}

export async function measureBundles(): Promise<BundleFigures> {
  const { config } = loadConfigFile(join(PROJECT_ROOT, DEFAULT_CONFIG_PATH), VENDORS);
  const configJson = bakeConfigJson(config);
  writeBundleValidators(PROJECT_ROOT);
  const dir = await mkdtemp(join(tmpdir(), 'factory-relay-bench-'));
  try {
    const sizes: BundleSize[] = [];
    for (const name of HANDLERS) {
      const outfile = join(dir, name, 'index.mjs');
      const t0 = performance.now();
      const entry = join(PROJECT_ROOT, 'lambdas/handlers', `${name}.ts`);
      const result = await build({
        ...esbuildOptions(entry, outfile, configJson, PROJECT_ROOT),
        metafile: true,
        logLevel: 'error',
      });
      const buildMs = performance.now() - t0;
      const code = await readFile(outfile);
      sizes.push({
        name,
        rawBytes: code.length,
        gzipBytes: gzipSync(code, { level: 9 }).length,
        mapBytes: (await stat(`${outfile}.map`)).size,
        inputs: Object.keys(result.metafile.inputs).length,
        buildMs,
        init: await measureInit(outfile),
        initSourceMaps: await measureInit(outfile, ['--enable-source-maps']),
      });
    }
    // Inside the project, so that `@aws-sdk/*` resolves from its node_modules.
    const sdkDir = await mkdtemp(join(PROJECT_ROOT, '.build', 'bench-sdk-'));
    const sdkVariant = async (name: string, external: string[]): Promise<SdkVariant> => {
      const outfile = join(sdkDir, name, 'index.mjs');
      const opts = esbuildOptions(
        join(PROJECT_ROOT, 'bench/sdk-forwarder-probe.ts'),
        outfile,
        configJson,
        PROJECT_ROOT,
      );
      await build({ ...opts, external: [...(opts.external ?? []), ...external], logLevel: 'error' });
      return { name, rawBytes: (await stat(outfile)).size, init: await measureInit(outfile) };
    };
    let sdk: BundleFigures['sdk'];
    try {
      sdk = {
        bundled: await sdkVariant('forwarder with SDK v3 bundled', []),
        external: await sdkVariant('forwarder with SDK v3 from the runtime', ['@aws-sdk/*']),
      };
    } finally {
      await rm(sdkDir, { recursive: true, force: true });
    }
    return {
      sizes,
      sdk,
      configPath: DEFAULT_CONFIG_PATH,
      configBytes: Buffer.byteLength(configJson),
      runs: INIT_RUNS,
      previous: PREVIOUS,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
