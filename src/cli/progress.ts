// Progress bars for long work (put of a large file, rebuild, drain,
// change-policy): drawn on stderr when a person is watching a terminal, and
// silent when stdout is not a TTY or --json is given.
import { createRequire } from 'node:module';
import type cliProgress from 'cli-progress';
import { formatBytes } from '../pool/index.js';

export class ProgressReporter {
  private bar: cliProgress.SingleBar | null = null;
  private total = 0;

  constructor(private readonly label: string, private readonly unit: 'bytes' | 'items', private readonly enabled: boolean) {}

  update = (done: number, total: number | null): void => {
    if (!this.enabled) return;
    const t = total ?? Math.max(done, this.total);
    if (!this.bar) {
      // Loaded when a bar is first shown, not with every command.
      const bars = createRequire(import.meta.url)('cli-progress') as typeof cliProgress;
      this.bar = new bars.SingleBar({
        format: `${this.label} [{bar}] {percentage}% | {shown} | ETA {eta_formatted}`,
        stream: process.stderr,
        hideCursor: true,
        clearOnComplete: true,
        etaBuffer: 50,
      }, bars.Presets.shades_classic);
      this.bar.start(t, 0, { shown: '' });
    }
    if (t !== this.total) {
      this.total = t;
      this.bar.setTotal(t);
    }
    const shown = this.unit === 'bytes' ? `${formatBytes(done)}${total ? ` of ${formatBytes(total)}` : ''}` : `${done}${total ? ` of ${total}` : ''}`;
    this.bar.update(done, { shown });
  };

  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }
}
