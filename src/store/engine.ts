// The engine: one open pool. It owns the lock, the catalogue, the extent
// cache, a main-thread kernel instance (headers, replica checksums) and, on
// first need, the worker pool. The CLI opens one per command; the daemon
// keeps one for its lifetime. Object I/O lives in writer.ts and reader.ts,
// maintenance in maintenance.ts, recovery and gc in their own files.
import { existsSync, mkdirSync, realpathSync, rmSync, statfsSync, writeFileSync, chmodSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { DfsError } from '../errors.js';
import { log } from '../log/index.js';
import { ExtentCache } from '../cache/index.js';
import { BufferArena } from '../buffers/index.js';
import { Catalog, DISK_STATES, META_WRITE_PREFIX, type DiskRow, type DiskState } from '../catalog/index.js';
import { KernelPool, resolveVariant, threadKernels, type KernelInstance, type WorkerPoolOptions } from '../kernels/index.js';
import {
  chooseDisks, formatPolicy, newPoolConfig, parsePolicy, poolPaths, readLabel, readPoolConfig, requireDirectory, writeLabel, writePoolConfig,
  PoolLock, isProcessAlive, labelPath, policyWidth, type Policy, type PoolConfig,
} from '../pool/index.js';
import { fragmentPath } from '../format/index.js';
import { prepareDiskLayout } from './fragment-io.js';
import { ForegroundActivity } from './activity.js';
import { IoStats } from './io-stats.js';

export interface OpenOptions {
  /** Who holds the lock (shown to a second opener). */
  role?: string;
  workers?: Partial<WorkerPoolOptions>;
  /** Extent cache bound in bytes; default pool.json's cache.maxBytes. A one-shot command passes 0. */
  cacheBytes?: number;
  /** Allocate and touch the buffer arena and the cache now (the daemon: a footprint that does not creep). */
  prefault?: boolean;
}

export interface InterruptedWrite {
  objectId: string;
  key: string;
  pid: number;
  startedAt: string;
}

export interface DiskInfo extends DiskRow {
  capacityBytes: number;
  freeBytes: number;
  usedBytes: number;
  available: boolean;
}

/** CPU niceness of the background (scrub) workers: under contention they get about a tenth of a foreground thread's share (CFS weights 110 against 1024). */
const BACKGROUND_NICENESS = 10;

export class Engine {
  readonly root: string;
  readonly paths: ReturnType<typeof poolPaths>;
  config: PoolConfig;
  readonly catalog: Catalog;
  readonly cache: ExtentCache;
  readonly io = new IoStats();
  /** Client I/O that reached the disks, so that background work can yield to it. */
  readonly foreground = new ForegroundActivity();
  /** Rebuild counters for the dynamicfs_rebuild* metrics. */
  readonly rebuildStats = { attempted: 0, successful: 0, failed: 0, bytesWritten: 0 };
  private readonly lock: PoolLock;
  private kernelPool: KernelPool | null = null;
  private backgroundPool: KernelPool | null = null;
  private readonly workerOptions: Partial<WorkerPoolOptions> | undefined;
  private mainKernels: KernelInstance | null = null;
  private arena: BufferArena | null = null;
  /** Free bytes per disk as placement sees them: statfs at open, minus what this process wrote since. */
  private readonly freeBytes = new Map<string, number>();
  private closed = false;
  /** Extents being repaired: a rebuild, a drain and the scrubber never repair the same extent at once. */
  private readonly extentLocks = new Map<string, Promise<void>>();

  private constructor(root: string, config: PoolConfig, catalog: Catalog, lock: PoolLock, options: OpenOptions) {
    this.root = root;
    this.paths = poolPaths(root);
    this.config = config;
    this.catalog = catalog;
    this.lock = lock;
    this.cache = new ExtentCache(options.cacheBytes ?? config.cache.maxBytes);
    this.workerOptions = options.workers;
  }

  /** Runs `fn` while no other repair of this extent runs (waits its turn). */
  async withExtentLock<T>(extentId: string, fn: () => Promise<T>): Promise<T> {
    for (let held = this.extentLocks.get(extentId); held; held = this.extentLocks.get(extentId)) await held;
    let release!: () => void;
    this.extentLocks.set(extentId, new Promise<void>((resolve) => { release = resolve; }));
    try {
      return await fn();
    } finally {
      this.extentLocks.delete(extentId);
      release();
    }
  }

  /** Opens an existing pool, taking its lock. */
  static open(root: string, options: OpenOptions = {}): Engine {
    const config = readPoolConfig(root);
    const lock = PoolLock.acquire(root, options.role ?? 'cli');
    let catalog: Catalog;
    try {
      catalog = Catalog.open(poolPaths(root).catalog, { poolId: config.poolId });
    } catch (error) {
      lock.release();
      throw error;
    }
    const engine = new Engine(poolPaths(root).dir, config, catalog, lock, options);
    engine.refreshFreeSpace();
    if (options.prefault) {
      engine.buffers.prefault();
      engine.cache.prefault();
    }
    return engine;
  }

  /**
   * Creates a pool: pool.json, catalogue, API token (mode 0600) and the given
   * disks. Everything is checked before anything is written.
   */
  static init(root: string, options: { policy?: string; extentSize?: string | number; disks?: string[] } = {}): Engine {
    const paths = poolPaths(root);
    if (existsSync(paths.config)) throw new DfsError('DFS_ERR_POOL_EXISTS', paths.dir);
    const config = newPoolConfig(options);
    const diskPaths = (options.disks ?? []).map((d) => {
      requireDirectory(d);
      return realpathSync(d);
    });
    if (new Set(diskPaths).size !== diskPaths.length) throw new DfsError('DFS_ERR_DISK_DUPLICATE', 'the same folder is given twice');
    const poolReal = join(realpathSync(dirname(resolve(root))), basename(resolve(root)));
    diskPaths.forEach((d, i) => checkNoOverlap(d, [poolReal, ...diskPaths.filter((_, j) => j !== i)]));
    for (const d of diskPaths) checkLabelForAdoption(d, config.poolId);
    mkdirSync(paths.run, { recursive: true });
    const lock = PoolLock.acquire(root, 'init');
    let catalog: Catalog | null = null;
    try {
      for (const f of [paths.catalog, `${paths.catalog}-wal`, `${paths.catalog}-shm`]) rmSync(f, { force: true });
      catalog = Catalog.open(paths.catalog, { create: true, poolId: config.poolId });
      writeFileSync(paths.token, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
      chmodSync(paths.token, 0o600);
      writePoolConfig(root, config);
    } catch (error) {
      catalog?.close();
      lock.release();
      throw error;
    }
    const engine = new Engine(paths.dir, config, catalog, lock, {});
    for (const d of diskPaths) engine.addDisk(d);
    return engine;
  }

  get poolId(): string {
    return this.config.poolId;
  }

  get extentSize(): number {
    return this.config.extentSize;
  }

  defaultPolicy(): Policy {
    return parsePolicy(this.config.defaultPolicy);
  }

  /** The worker pool, started on first use. */
  /**
   * Records a put in progress in the catalogue (no fsync: it is a hint) until
   * the returned function is called. A record whose process is gone marks an
   * interrupted write: status reports it and gc takes its files at once.
   */
  beginWrite(objectId: string, key: string): () => void {
    const metaKey = `${META_WRITE_PREFIX}${objectId}`;
    this.catalog.setMetaRelaxed(metaKey, JSON.stringify({ pid: process.pid, host: hostname(), key, startedAt: new Date().toISOString() }));
    let ended = false;
    return () => {
      if (ended || this.closed) return;
      ended = true;
      this.catalog.deleteMetaRelaxed(metaKey);
    };
  }

  /** Puts that were in progress in processes of this host that are gone (killed): their files are garbage. */
  interruptedWrites(): InterruptedWrite[] {
    const out: InterruptedWrite[] = [];
    for (const row of this.catalog.metaWithPrefix(META_WRITE_PREFIX)) {
      let w: { pid?: unknown; host?: unknown; key?: unknown; startedAt?: unknown };
      try {
        w = JSON.parse(row.value) as typeof w;
      } catch {
        continue;
      }
      if (typeof w.pid !== 'number' || w.host !== hostname() || w.pid === process.pid || isProcessAlive(w.pid)) continue;
      out.push({ objectId: row.key.slice(META_WRITE_PREFIX.length), key: String(w.key), pid: w.pid, startedAt: String(w.startedAt) });
    }
    return out;
  }

  /** Forgets an interrupted write once its files are gone. */
  forgetInterruptedWrite(objectId: string): void {
    this.catalog.deleteMetaRelaxed(`${META_WRITE_PREFIX}${objectId}`);
  }

  /**
   * A warning when the pool has fewer healthy disks than its default policy
   * spreads an extent over (new objects are refused until disks are added),
   * else null.
   */
  defaultPolicyShortfall(): string | null {
    const policy = this.defaultPolicy();
    const width = policyWidth(policy);
    const healthy = this.placementCandidates().length;
    if (healthy >= width) return null;
    return `the default policy ${formatPolicy(policy)} needs ${width} healthy disks and the pool has ${healthy}: puts will be refused until disks are added (add-disk), or use a narrower policy (put --policy)`;
  }

  /** The buffer arena every extent on its way through the workers lives in (created on first use, kept for the engine's life). */
  get buffers(): BufferArena {
    this.arena ??= new BufferArena(this.config.memory.bufferBytes);
    return this.arena;
  }

  /** The arena's figures, or its budget alone before first use. */
  bufferStats() {
    return this.arena?.stats() ?? null;
  }

  workers(): KernelPool {
    if (this.closed) throw new DfsError('DFS_ERR_WORKER_CLOSED');
    if (!this.kernelPool) {
      this.kernelPool = new KernelPool(this.workerOptions);
      this.kernelPool.onTaskDone = this.taskObserver;
    }
    return this.kernelPool;
  }

  hasWorkers(): boolean {
    return this.kernelPool !== null;
  }

  /**
   * The scrubber's own worker pool (same options), whose threads run at a
   * lower CPU priority: a client's reads and writes never queue behind a
   * scrub check in a worker, and when they compete for the cores the
   * scheduler gives the clients' threads the time. On an idle pool the
   * scrubber still gets every core.
   */
  backgroundWorkers(): KernelPool {
    if (this.closed) throw new DfsError('DFS_ERR_WORKER_CLOSED');
    if (!this.backgroundPool) {
      this.backgroundPool = new KernelPool(this.kernelPool?.options ?? this.workerOptions, { niceness: BACKGROUND_NICENESS });
      this.backgroundPool.onTaskDone = this.taskObserver;
    }
    return this.backgroundPool;
  }

  hasBackgroundWorkers(): boolean {
    return this.backgroundPool !== null;
  }

  private taskObserver: ((op: string, seconds: number) => void) | null = null;

  /** Called with every finished task of either pool: its operation and its time from submission to result, in seconds. */
  observeWorkerTasks(observe: (op: string, seconds: number) => void): void {
    this.taskObserver = observe;
    if (this.kernelPool) this.kernelPool.onTaskDone = observe;
    if (this.backgroundPool) this.backgroundPool.onTaskDone = observe;
  }

  /** Applies worker pool options live to both pools. */
  async reconfigureWorkers(options: Partial<WorkerPoolOptions>): Promise<WorkerPoolOptions> {
    const applied = await this.workers().reconfigure(options);
    await this.backgroundPool?.reconfigure(applied);
    return applied;
  }

  /** The calling thread's kernels, for headers and replica checksums. */
  kernels(): KernelInstance {
    this.mainKernels ??= threadKernels(resolveVariant());
    return this.mainKernels;
  }

  hash = (bytes: Uint8Array): bigint => this.kernels().xxh3(bytes);

  /**
   * Closes at once, without waiting for the worker threads (a second Ctrl-C):
   * the catalogue is closed (its last committed transaction is on disk) and
   * the lock released, so the pool is left clean for the next owner.
   */
  closeNow(): void {
    this.closed = true;
    try {
      this.catalog.close();
    } finally {
      this.lock.release();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await Promise.all([this.kernelPool?.close(), this.backgroundPool?.close()]);
    } finally {
      this.catalog.close();
      this.lock.release();
    }
  }

  // ---- disks

  /** A disk by id or by path. */
  resolveDisk(ref: string): DiskRow {
    const byId = this.catalog.disk(ref);
    if (byId) return byId;
    const absolute = resolve(ref);
    const byPath = this.catalog.diskByPath(absolute) ?? (existsSync(absolute) ? this.catalog.diskByPath(realpathSync(absolute)) : null);
    if (byPath) return byPath;
    throw new DfsError('DFS_ERR_DISK_UNKNOWN', ref);
  }

  diskPath(diskId: string): string | null {
    return this.catalog.diskRef(diskId)?.path ?? null;
  }

  addDisk(path: string): DiskRow {
    requireDirectory(path);
    const real = realpathSync(path);
    const existing = this.catalog.diskByPath(real);
    if (existing) throw new DfsError('DFS_ERR_DISK_DUPLICATE', `${real} is ${existing.id}`);
    checkNoOverlap(real, [realpathSync(this.root), ...this.catalog.disks().map((d) => d.path)]);
    const label = checkLabelForAdoption(real, this.poolId);
    if (label && this.catalog.disk(label.diskId)) throw new DfsError('DFS_ERR_DISK_DUPLICATE', `${real} carries the label of ${label.diskId}, already in the pool`);
    const id = label?.diskId ?? `disk-${randomBytes(4).toString('hex')}`;
    prepareDiskLayout(real);
    if (!label) writeLabel(real, { format: 1, poolId: this.poolId, diskId: id, createdAt: new Date().toISOString() });
    this.catalog.addDisk(id, real, 'healthy');
    this.config.disks = [...this.config.disks.filter((d) => d.id !== id), { id, path: real }];
    writePoolConfig(this.root, this.config);
    this.refreshFreeSpace();
    return this.catalog.disk(id)!;
  }

  setDiskState(ref: string, state: string): DiskRow {
    if (!DISK_STATES.includes(state as DiskState)) throw new DfsError('DFS_ERR_DISK_STATE_INVALID', `"${state}"`);
    const disk = this.resolveDisk(ref);
    this.catalog.setDiskState(disk.id, state as DiskState);
    return this.catalog.disk(disk.id)!;
  }

  /** Forgets a drained disk: catalogue row, pool.json entry and its label. */
  forgetDisk(diskId: string): void {
    const disk = this.catalog.disk(diskId);
    if (!disk) return;
    this.catalog.removeDisk(diskId);
    this.config.disks = this.config.disks.filter((d) => d.id !== diskId);
    writePoolConfig(this.root, this.config);
    rmSync(labelPath(disk.path), { force: true });
    this.freeBytes.delete(diskId);
  }

  diskInfo(disk: DiskRow): DiskInfo {
    let capacityBytes = 0;
    let freeBytes = 0;
    let available = false;
    try {
      const s = statfsSync(disk.path);
      capacityBytes = s.blocks * s.bsize;
      freeBytes = s.bavail * s.bsize;
      available = existsSync(labelPath(disk.path));
    } catch {
      available = false;
    }
    return { ...disk, capacityBytes, freeBytes, usedBytes: Math.max(0, capacityBytes - freeBytes), available };
  }

  refreshFreeSpace(): void {
    for (const disk of this.catalog.disks()) {
      try {
        const s = statfsSync(disk.path);
        this.freeBytes.set(disk.id, s.bavail * s.bsize);
      } catch {
        this.freeBytes.set(disk.id, 0);
      }
    }
  }

  /** Healthy disks with room, as placement candidates. */
  placementCandidates(exclude: ReadonlySet<string> = new Set()): { id: string; freeBytes: number }[] {
    return this.catalog
      .diskStates()
      .filter((d) => d.state === 'healthy' && !exclude.has(d.id))
      .map((d) => ({ id: d.id, freeBytes: this.freeBytes.get(d.id) ?? 0 }));
  }

  /** Checks up front that a policy can be placed at all. */
  checkPlaceable(policy: Policy): void {
    chooseDisks(this.placementCandidates(), policyWidth(policy), formatPolicy(policy));
  }

  noteWritten(diskId: string, bytes: number): void {
    this.freeBytes.set(diskId, Math.max(0, (this.freeBytes.get(diskId) ?? 0) - bytes));
  }

  /** Reacts to a failed write on a disk: a failed fsync or I/O error makes it suspect, a vanished folder failed. */
  noteWriteFailure(diskId: string, phase: string, errno: string): DiskState | null {
    const disk = this.catalog.disk(diskId);
    if (!disk) return null;
    this.io.error(diskId);
    let next: DiskState | null = null;
    if (errno === 'ENOENT' || errno === 'ENOTDIR') next = 'failed';
    else if (phase === 'fsync' || errno === 'EIO' || errno === 'EROFS') next = 'suspect';
    if (next && disk.state !== next && disk.state !== 'failed') {
      log('store').warn({ disk: diskId, path: disk.path, phase, errno, state: next }, `disk marked ${next}`);
      this.catalog.setDiskState(diskId, next);
    }
    return next;
  }

  fragmentFile(diskId: string, extentId: string, index: number): string | null {
    const path = this.diskPath(diskId);
    return path === null ? null : fragmentPath(path, extentId, index);
  }
}

/** A disk folder may not be, hold or sit inside the pool folder or another disk: their files would mix. */
function checkNoOverlap(disk: string, others: readonly string[]): void {
  for (const other of others) {
    if (disk === other || disk.startsWith(`${other}/`) || other.startsWith(`${disk}/`)) {
      throw new DfsError('DFS_ERR_DISK_OVERLAP', `${disk} and ${other}`);
    }
  }
}

/** A folder may join this pool if it has no label or a label of this pool; returns that label. */
function checkLabelForAdoption(path: string, poolId: string) {
  const label = readLabel(path);
  if (label === 'invalid') throw new DfsError('DFS_ERR_DISK_FOREIGN', `${path} has an unreadable ${labelPath(path)}`);
  if (label && label.poolId !== poolId) throw new DfsError('DFS_ERR_DISK_FOREIGN', `${path} belongs to pool ${label.poolId}`);
  return label;
}
