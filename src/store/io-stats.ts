// Disk I/O counters per disk, for the dynamicfs_disk_* metrics
// (dynamicfs_disk_reads_total and friends). Plain numbers: the metrics layer
// reads them at scrape time.
export interface DiskIoCounters {
  reads: number;
  writes: number;
  readBytes: number;
  writeBytes: number;
  errors: number;
}

export class IoStats {
  private readonly disks = new Map<string, DiskIoCounters>();

  private of(diskId: string): DiskIoCounters {
    let c = this.disks.get(diskId);
    if (!c) this.disks.set(diskId, (c = { reads: 0, writes: 0, readBytes: 0, writeBytes: 0, errors: 0 }));
    return c;
  }

  read(diskId: string, bytes: number): void {
    const c = this.of(diskId);
    c.reads++;
    c.readBytes += bytes;
  }

  write(diskId: string, bytes: number): void {
    const c = this.of(diskId);
    c.writes++;
    c.writeBytes += bytes;
  }

  error(diskId: string): void {
    this.of(diskId).errors++;
  }

  snapshot(): Map<string, DiskIoCounters> {
    return new Map([...this.disks].map(([id, c]) => [id, { ...c }]));
  }
}
