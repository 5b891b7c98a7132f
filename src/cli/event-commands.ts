// `events`: the repair journal, read from the pool's catalogue on a read-only
// connection (no lock: it works beside a daemon or a running scrub), and
// `--follow` to watch new events as they are written, as `zpool events -f`.
import type { Command } from 'commander';
import type { PoolEvent } from '../catalog/index.js';
import { followEvents, parseEventFilter, withEventReader, type EventParams } from '../ops/index.js';
import { readPoolConfig } from '../pool/index.js';
import type { CliContext } from './context.js';
import { escapeControls, toJson } from './output.js';

/** One event on one line, for people. */
export function eventLine(e: PoolEvent): string {
  const where = e.extent ? ` ${e.key === null ? 'pack' : JSON.stringify(e.key)} extent ${e.seq ?? '?'}${e.fragment !== null ? ` fragment ${e.fragment}` : ''}` : '';
  const disk = e.disk ? ` ${e.disk}${e.toDisk && e.toDisk !== e.disk ? ` -> ${e.toDisk}` : ''}` : '';
  const parts = [`${e.time} #${e.id} ${e.type} (${e.trigger}${e.job ? ` ${e.job}` : ''})${disk}${where}`];
  if (e.kind) parts.push(e.kind);
  if (e.type === 'disk_state') parts.push(`${e.previousState ?? '-'} -> ${e.state ?? '-'}${e.result === 'fail_deferred' ? ' (failing deferred)' : ''}`);
  else if (e.result) parts.push(e.result);
  if (e.expectedChecksum || e.observedChecksum || e.writtenChecksum) {
    parts.push(`expected ${e.expectedChecksum ?? '-'} observed ${e.observedChecksum ?? '-'}${e.writtenChecksum ? ` written ${e.writtenChecksum}` : ''}`);
  }
  if (e.sources?.length) parts.push(`from ${e.sources.map((s) => `${s.fragment}@${s.disk}`).join(',')}`);
  if (e.durationMs !== null) parts.push(`${e.durationMs} ms`);
  if (e.reason) parts.push(e.reason);
  return escapeControls(parts.join('  '));
}

export function registerEventCommands(program: Command, ctx: CliContext): void {
  program
    .command('events')
    .description('the repair journal: every problem found, repair, failed repair and disk state change, oldest first')
    .option('--since <time>', 'from this time: ISO 8601 (2026-12-03T08:00:00Z) or a duration back from now (10m, 2h, 7d)')
    .option('--after <id>', 'only events after this id')
    .option('--type <type>', 'problem, repair, repair_failed, disk_state or rewrite')
    .option('--disk <id>', 'only events about this disk (its id or folder)')
    .option('--key <prefix>', 'only events about objects whose key starts with this')
    .option('--limit <n>', 'the newest N that match (default 10000)')
    .option('--follow', 'keep printing new events as they are written (Ctrl-C to stop); with --json, one JSON object per line')
    .action(async (opts: EventParams & { follow?: boolean }) => {
      const root = ctx.poolDir();
      const { follow, ...params } = opts;
      const filter = parseEventFilter(params, readPoolConfig(root).disks);
      const json = ctx.json();
      let stop = false;
      const onSignal = () => {
        stop = true;
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        await withEventReader(root, async (reader) => {
          if (!follow) {
            const events = reader?.events(filter) ?? [];
            if (json) process.stdout.write(`${toJson({ events })}\n`);
            else process.stdout.write(events.length ? `${events.map(eventLine).join('\n')}\n` : 'no events\n');
            return;
          }
          if (!reader) {
            process.stderr.write('this pool\'s catalogue has no journal yet: any command that opens the pool (status, say) brings it up to date\n');
            return;
          }
          for await (const batch of followEvents((f) => reader.events(f), filter, () => stop)) {
            for (const e of batch) process.stdout.write(`${json ? JSON.stringify(e) : eventLine(e)}\n`);
          }
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
