// Preloaded (node --import) into a CLI run by bench:small: prints the
// process's peak RSS (VmHWM of /proc/self/status) to stderr as it exits.
import { readFileSync } from 'node:fs';

process.on('exit', () => {
  const kib = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
  process.stderr.write(`peak-rss-kib ${kib}\n`);
});
