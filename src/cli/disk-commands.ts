// Disk commands: add-disk, remove-disk (drain), fail-disk, set-disk-health,
// list-disks, probe-disks.
import type { Command } from 'commander';
import { drainDisk, listDisks, probeDisks } from '../store/index.js';
import { formatBytes } from '../pool/index.js';
import type { CliContext } from './context.js';
import { printResult, table } from './output.js';

export function registerDiskCommands(program: Command, ctx: CliContext): void {
  program
    .command('add-disk')
    .description('add a disk folder to the pool (writes its label; a disk of another pool is refused)')
    .requiredOption('--disk <dir>', 'disk folder')
    .action((opts: { disk: string }) => ctx.withEngine((engine) => {
      const d = engine.addDisk(opts.disk);
      printResult(ctx.json(), { id: d.id, path: d.path, state: d.state }, () => `added ${d.id} at ${d.path}`);
    }));

  program
    .command('remove-disk')
    .description('drain a disk (move every fragment to other healthy disks), then remove it from the pool')
    .requiredOption('--disk <disk>', 'disk id or path')
    .action((opts: { disk: string }) => ctx.withEngine(async (engine) => {
      const progress = ctx.progress('draining', 'items');
      try {
        const s = await drainDisk(engine, opts.disk, progress.update);
        progress.stop();
        printResult(ctx.json(), s, () => `removed ${s.disk} (${s.path}): moved ${s.fragmentsMoved} fragments of ${s.extentsMoved} extents, wrote ${formatBytes(s.bytesWritten)}`);
      } finally {
        progress.stop();
      }
    }));

  program
    .command('fail-disk')
    .description('mark a disk failed: its fragments are no longer read, and rebuild replaces them')
    .requiredOption('--disk <disk>', 'disk id or path')
    .action((opts: { disk: string }) => ctx.withEngine((engine) => {
      const d = engine.setDiskState(opts.disk, 'failed');
      const c = engine.catalog.extentCounts();
      printResult(ctx.json(), { id: d.id, path: d.path, state: d.state, extents: c }, () => `${d.id} is failed; extents: ${c.healthy} healthy, ${c.degraded} degraded, ${c.unrecoverable} unrecoverable (run \`dynamicfs rebuild\`)`);
    }));

  program
    .command('set-disk-health')
    .description('set a disk state: healthy, degraded, suspect, draining or failed')
    .requiredOption('--disk <disk>', 'disk id or path')
    .requiredOption('--state <state>', 'new state')
    .action((opts: { disk: string; state: string }) => ctx.withEngine((engine) => {
      const d = engine.setDiskState(opts.disk, opts.state);
      printResult(ctx.json(), { id: d.id, path: d.path, state: d.state }, () => `${d.id} is ${d.state}`);
    }));

  program
    .command('list-disks')
    .description('disks with state, capacity and fragments')
    .action(() => ctx.withEngine((engine) => {
      const r = listDisks(engine);
      printResult(ctx.json(), r, () => table(['ID', 'STATE', 'FRAGMENTS', 'STORED', 'USED', 'CAPACITY', 'PATH'], r.disks.map((d) => [
        d.id, d.available ? d.state : `${d.state} (unavailable)`, d.fragments, formatBytes(d.storedBytes), formatBytes(d.usedBytes), formatBytes(d.capacityBytes), d.path,
      ])));
    }));

  program
    .command('probe-disks')
    .description('check every disk (folder, label, write+fsync+read probe, capacity) and update its state')
    .action(() => ctx.withEngine((engine) => {
      const r = probeDisks(engine);
      if (r.disks.some((d) => d.state !== 'healthy')) ctx.problemsRemain();
      printResult(ctx.json(), r, () => table(['ID', 'STATE', 'WAS', 'EXISTS', 'LABEL', 'PROBE', 'FREE', 'PATH'], r.disks.map((d) => [
        d.id, d.state, d.previousState, d.exists ? 'yes' : 'no', d.labelOk ? 'ok' : 'bad', d.probeOk ? 'ok' : d.error ?? 'failed', formatBytes(d.freeBytes), d.path,
      ])));
    }));
}
