import { readFile, rm, stat } from 'node:fs/promises';
import { type Clock, systemClock } from '@hadb/io';
import { GraphstreamError } from './errors.js';
import { fsyncDir, ioError, writeFileAtomic } from './fsutil.js';
import { inDir } from './naming.js';

/** File name of the upload manifest inside a journal directory. */
export const UPLOAD_MANIFEST_FILE = 'upload_manifest.json';

/** Options of {@link UploadManifest.cleanup}. */
export interface CacheCleanupOptions {
  /** Uploaded files older than this (by modification time) are deleted. Default 3600 s. */
  readonly retentionMs?: number;
  /** While uploaded files total more than this, the oldest are deleted. Default 256 MiB. */
  readonly maxBytes?: number;
  /** Names never deleted, uploaded or not (the writer's newest segment, files being read). */
  readonly keep?: ReadonlySet<string>;
  /** Time source of age decisions (`wallMs()`, compared with file modification times). Default `systemClock`. */
  readonly clock?: Clock | undefined;
}

interface ManifestJson {
  readonly uploaded: readonly string[];
  readonly total_bytes: number;
}

/**
 * Which local segment files are safely in storage: `{journal_dir}/upload_manifest.json`, shaped
 * `{"uploaded":[names...],"total_bytes":N}` as in graphstream. Every change is written to a
 * temporary file, fsynced and renamed, so a crash leaves the old or the new manifest. A missing or
 * unreadable manifest means "nothing known uploaded": segments are then uploaded again, which is
 * idempotent. Cleanup deletes only files listed here, so a pending segment is never deleted.
 */
export class UploadManifest {
  readonly #dir: string;
  readonly #path: string;
  readonly #uploaded: Map<string, number>;
  #chain: Promise<void> = Promise.resolve();

  private constructor(dir: string, uploaded: Map<string, number>) {
    this.#dir = dir;
    this.#path = inDir(dir, UPLOAD_MANIFEST_FILE);
    this.#uploaded = uploaded;
  }

  /** Loads the manifest of `dir` (an empty one if the file is missing or corrupt). */
  static async load(dir: string): Promise<UploadManifest> {
    const path = inDir(dir, UPLOAD_MANIFEST_FILE);
    const uploaded = new Map<string, number>();
    let text: string | undefined;
    try {
      text = await readFile(path, 'utf8');
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(`could not read ${path}`, cause, path);
    }
    if (text !== undefined) {
      try {
        const json = JSON.parse(text) as Partial<ManifestJson>;
        if (Array.isArray(json.uploaded)) {
          for (const name of json.uploaded) if (typeof name === 'string') uploaded.set(name, 0);
        }
      } catch {
        // A corrupt manifest only costs re-uploads, which are idempotent.
      }
    }
    return new UploadManifest(dir, uploaded);
  }

  /** Whether `name` is recorded as uploaded. */
  has(name: string): boolean {
    return this.#uploaded.has(name);
  }

  /** Names recorded as uploaded. */
  names(): string[] {
    return [...this.#uploaded.keys()];
  }

  /** Records `name` (of `bytes` bytes) as uploaded and persists the manifest durably. */
  async markUploaded(name: string, bytes: number): Promise<void> {
    this.#uploaded.set(name, bytes);
    await this.#persist();
  }

  /** Forgets names (after their files are deleted) and persists. */
  async forget(names: Iterable<string>): Promise<void> {
    let changed = false;
    for (const n of names) changed = this.#uploaded.delete(n) || changed;
    if (changed) await this.#persist();
  }

  #persist(): Promise<void> {
    const run = this.#chain.then(async () => {
      const json: ManifestJson = {
        uploaded: [...this.#uploaded.keys()].sort(),
        total_bytes: [...this.#uploaded.values()].reduce((a, b) => a + b, 0),
      };
      await writeFileAtomic(this.#dir, this.#path, [new TextEncoder().encode(JSON.stringify(json))]);
    });
    this.#chain = run.catch(() => undefined);
    return run;
  }

  /**
   * Deletes uploaded local files that are older than `retentionMs`, then the oldest uploaded files
   * while their total size exceeds `maxBytes`. Files not in the manifest and names in `keep` are
   * never touched. Returns the deleted names.
   */
  async cleanup(options: CacheCleanupOptions = {}): Promise<string[]> {
    const retentionMs = options.retentionMs ?? 3_600_000;
    const maxBytes = options.maxBytes ?? 256 * 1024 * 1024;
    if (retentionMs < 0 || maxBytes < 0) {
      throw new GraphstreamError('HADB_GRAPHSTREAM_INVALID_ARGUMENT', 'retentionMs and maxBytes must be >= 0');
    }
    const now = (options.clock ?? systemClock).wallMs();
    const files: { name: string; size: number; mtimeMs: number }[] = [];
    const vanished: string[] = [];
    for (const name of this.#uploaded.keys()) {
      try {
        const s = await stat(inDir(this.#dir, name));
        files.push({ name, size: s.size, mtimeMs: s.mtimeMs });
      } catch (cause) {
        if ((cause as NodeJS.ErrnoException).code === 'ENOENT') vanished.push(name);
        else throw ioError(`could not stat ${name}`, cause, name);
      }
    }
    files.sort((a, b) => a.mtimeMs - b.mtimeMs || (a.name < b.name ? -1 : 1));
    let total = files.reduce((a, f) => a + f.size, 0);
    const doomed: string[] = [];
    for (const f of files) {
      if (options.keep?.has(f.name)) continue;
      if (now - f.mtimeMs > retentionMs || total > maxBytes) {
        doomed.push(f.name);
        total -= f.size;
      }
    }
    for (const name of doomed) {
      await rm(inDir(this.#dir, name), { force: true }).catch((cause: unknown) => {
        throw ioError(`could not delete ${name}`, cause, name);
      });
    }
    if (doomed.length > 0) await fsyncDir(this.#dir);
    await this.forget([...doomed, ...vanished]);
    return doomed;
  }
}
