// The rows of the catalogue's tables, their states, and the meta keys other
// domains share.
export type DiskState = 'healthy' | 'degraded' | 'suspect' | 'draining' | 'failed';
export const DISK_STATES: readonly DiskState[] = ['healthy', 'degraded', 'suspect', 'draining', 'failed'];
export type ExtentState = 'healthy' | 'degraded' | 'unrecoverable';
/** 'ok' or the kind of problem last seen on the fragment. */
export type FragmentState = 'ok' | 'missing' | 'unreadable' | 'truncated' | 'checksum_mismatch' | 'header_invalid' | 'misplaced';

/** One bad fragment as a read, repair or scrub found it. */
export interface FragmentProblem {
  index: number;
  diskId: string | null;
  kind: Exclude<FragmentState, 'ok'>;
  /** XXH3-64 (16 hex digits) of the payload bytes found, when there were any. */
  observed?: string | null;
}

export interface DiskRow {
  id: string;
  path: string;
  state: DiskState;
  addedAt: number;
  fragments: number;
  storedBytes: number;
}

export interface DiskRef {
  id: string;
  path: string;
  state: DiskState;
}

export interface ObjectRow {
  id: string;
  key: string;
  size: number;
  policy: string;
  checksum: string;
  extents: number;
  createdAt: number;
}

export interface FragmentRow {
  extentId: string;
  index: number;
  diskId: string;
  checksum: string;
  bytes: number;
  state: FragmentState;
}

export interface ExtentRow {
  ord: number;
  id: string;
  objectId: string;
  seq: number;
  size: number;
  policy: string;
  need: number;
  width: number;
  fragmentLength: number;
  payloadOffset: number;
  checksum: string;
  state: ExtentState;
  verifiedAt: number | null;
}

export interface ExtentWithFragments extends ExtentRow {
  fragments: FragmentRow[];
}

export type NewExtent = Omit<ExtentRow, 'ord' | 'state' | 'verifiedAt' | 'objectId'> & { fragments: Omit<FragmentRow, 'extentId' | 'state'>[] };

export interface ExtentCounts {
  healthy: number;
  degraded: number;
  unrecoverable: number;
  total: number;
}

/**
 * Meta key prefix: a put in progress (`write:<objectId>` → {pid, host, key, startedAt}),
 * written before its first fragment and removed when it ends. One left behind by a process
 * that is gone marks an interrupted write whose files gc may take at once.
 */
export const META_WRITE_PREFIX = 'write:';

/** Meta key: when recover-catalog rebuilt the catalogue; the next complete scrub pass (not a dry run) removes it. */
export const META_RECOVERED_AT = 'recovered_at';
