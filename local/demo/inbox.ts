/**
 * A watched folder: every new or changed file under `dir` is handed to `upload` with key = its path relative
 * to `dir` (forward slashes), once its size and mtime have not changed for `stableMs` (a copy in progress is
 * not uploaded half-written). Polling, not fs.watch: it behaves the same on every OS and file system
 * (network drives, containers) and misses nothing between scans.
 */

import { type Dirent, mkdirSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { Repeat } from './repeat.ts';

export interface InboxFile {
  /** Absolute path. */
  path: string;
  /** The object key: the path relative to the inbox, with `/`. */
  key: string;
  size: number;
}

export interface InboxOptions {
  dir: string;
  upload: (file: InboxFile) => Promise<void>;
  /** Sidecars are uploaded before the other files of the same scan (the router reads them with the file). */
  isSidecar?: (key: string) => boolean;
  everyMs?: number;
  stableMs?: number;
  onError?: (error: unknown, file?: InboxFile) => void;
  now?: () => number;
}

/** Editor backups, partial downloads, OS metadata: never uploaded. */
export function ignoredName(name: string): boolean {
  return (
    name.startsWith('.') ||
    name.endsWith('~') ||
    /\.(tmp|part|partial|crdownload|download|swp|swx)$/i.test(name) ||
    name === 'Thumbs.db' ||
    name === 'desktop.ini'
  );
}

interface Seen {
  sig: string;
  since: number;
  uploadedSig?: string;
}

export class InboxWatcher {
  private readonly seen = new Map<string, Seen>();
  private readonly repeat: Repeat;
  private readonly now: () => number;

  constructor(private readonly opts: InboxOptions) {
    this.now = opts.now ?? Date.now;
    this.repeat = new Repeat(
      () => this.scan(),
      opts.everyMs ?? 500,
      (err) => opts.onError?.(err),
    );
  }

  start(): void {
    mkdirSync(this.opts.dir, { recursive: true });
    this.repeat.start();
  }

  stop(): Promise<void> {
    return this.repeat.stop();
  }

  /** The files in the folder now, sidecars first (for a one-time upload), then by key. */
  async list(): Promise<InboxFile[]> {
    return (await this.walk(this.opts.dir))
      .map(({ path, key, size }) => ({ path, key, size }))
      .sort(this.order);
  }

  /** Sidecars before the other files (the router reads them with the file), then by key. */
  private readonly order = (a: InboxFile, b: InboxFile): number => {
    const sidecar = this.opts.isSidecar ?? (() => false);
    return Number(sidecar(b.key)) - Number(sidecar(a.key)) || a.key.localeCompare(b.key);
  };

  /** One scan: notes changes, uploads what has been stable long enough. */
  async scan(): Promise<void> {
    const files = await this.walk(this.opts.dir);
    const now = this.now();
    const present = new Set<string>();
    const ready: InboxFile[] = [];
    for (const f of files) {
      present.add(f.key);
      const sig = `${f.size}:${f.mtimeMs}`;
      const s = this.seen.get(f.key);
      if (!s || s.sig !== sig) {
        this.seen.set(f.key, { sig, since: now, ...(s?.uploadedSig ? { uploadedSig: s.uploadedSig } : {}) });
        continue;
      }
      if (s.uploadedSig !== sig && now - s.since >= (this.opts.stableMs ?? 300))
        ready.push({ path: f.path, key: f.key, size: f.size });
    }
    for (const key of this.seen.keys()) if (!present.has(key)) this.seen.delete(key);

    ready.sort(this.order);
    for (const f of ready) {
      if (this.repeat.isStopped) return;
      const s = this.seen.get(f.key);
      if (!s) continue;
      s.uploadedSig = s.sig;
      try {
        await this.opts.upload(f);
      } catch (err) {
        s.uploadedSig = undefined; // try again on a later scan
        this.opts.onError?.(err, f);
      }
    }
  }

  private async walk(root: string): Promise<Array<InboxFile & { mtimeMs: number }>> {
    const out: Array<InboxFile & { mtimeMs: number }> = [];
    const walk = async (dir: string) => {
      let entries: Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return; // removed while scanning
      }
      for (const e of entries) {
        if (ignoredName(e.name)) continue;
        const path = join(dir, e.name);
        if (e.isDirectory()) await walk(path);
        else if (e.isFile()) {
          try {
            const st = await stat(path);
            out.push({
              path,
              key: relative(root, path).split(sep).join('/'),
              size: st.size,
              mtimeMs: st.mtimeMs,
            });
          } catch {
            // removed while scanning
          }
        }
      }
    };
    await walk(root);
    return out;
  }
}
