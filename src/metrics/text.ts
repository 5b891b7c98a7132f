// Prometheus text exposition → samples, for `dynamicfs metrics --json`.
export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  /** null for NaN and ±Inf, which JSON cannot carry. */
  value: number | null;
}

export function parseMetricsText(text: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    const value = Number(m[3]);
    samples.push({ name: m[1]!, labels, value: Number.isFinite(value) ? value : null });
  }
  return samples;
}
