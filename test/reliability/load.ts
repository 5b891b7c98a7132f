// npm run test:load — autocannon on loopback against a real daemon: a mix of
// GET and PUT of objects of 4 KiB to 4 MiB at concurrency 64 for 30 s while
// the background scrubber runs at medium; then every acknowledged object is
// read back and compared. Passes with 0 acknowledged objects lost and 0
// server errors; prints req/s, p50/p99 and errors and writes them into
// docs/RELIABILITY.md.
//
//   DFS_LOAD_SECONDS      duration (default 30)
//   DFS_LOAD_CONNECTIONS  concurrency (default 64)
import autocannon from 'autocannon';
import { createHash, randomBytes } from 'node:crypto';
import { makePool } from '../helpers/cli.js';
import { startDaemon } from '../helpers/daemon.js';
import { prng } from './crash-world.js';
import { table, writeFigures } from './report.js';

const SECONDS = Number(process.env.DFS_LOAD_SECONDS ?? 30);
const CONNECTIONS = Number(process.env.DFS_LOAD_CONNECTIONS ?? 64);
const MIN = 4 * 1024;
const MAX = 4 * 1024 * 1024;

const pool = makePool({ disks: 6 });
const daemon = await startDaemon(pool.pool, ['serve', '--log-level', 'warn']);
const auth = `Bearer ${daemon.token}`;
// Object bodies are windows of one random buffer: a key's content is (offset, size).
const source = randomBytes(2 * MAX);
const random = prng(64);
const sizeOf = () => Math.floor(MIN * (MAX / MIN) ** random()); // log-uniform 4 KiB .. 4 MiB
const acknowledged = new Map<string, { offset: number; size: number; digest: string }>();
const digest = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
let puts = 0;
let gets = 0;
let serverErrors = 0;
let otherErrors = 0;

async function main(): Promise<void> {
  // Some objects to read from the first second on.
  for (let i = 0; i < 16; i++) {
    const size = sizeOf();
    const offset = Math.floor(random() * MAX);
    const body = source.subarray(offset, offset + size);
    const r = await fetch(`${daemon.url}/v1/objects/pre%2F${i}`, { method: 'PUT', body, headers: { authorization: auth } });
    if (r.status !== 200) throw new Error(`preload: ${r.status} ${await r.text()}`);
    acknowledged.set(`pre/${i}`, { offset, size, digest: digest(body) });
  }
  for (const [verb, body] of [['PUT', { intensity: 'medium' }], ['POST', null]] as const) {
    const r = await fetch(`${daemon.url}/v1/scrub/${verb === 'PUT' ? 'intensity' : 'start'}`, { method: verb, headers: { authorization: auth, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
    if (!r.ok) throw new Error(`scrub control: ${r.status}`);
  }
  // A pass covers the extents that existed when it began: start the next one whenever one ends, so the scrubber works throughout.
  let loading = true;
  const keeper = (async () => {
    while (loading) {
      await new Promise((r) => setTimeout(r, 500));
      const st = (await (await fetch(`${daemon.url}/v1/scrub/status`, { headers: { authorization: auth } })).json()) as { state: string };
      if (loading && st.state === 'idle') await fetch(`${daemon.url}/v1/scrub/start`, { method: 'POST', headers: { authorization: auth } });
    }
  })();
  let counter = 0;
  const keys = () => [...acknowledged.keys()];
  const result = await autocannon({
    url: daemon.url,
    connections: CONNECTIONS,
    duration: SECONDS,
    headers: { authorization: auth },
    requests: [{
      setupRequest: (req: Record<string, unknown>, context: Record<string, unknown>) => {
        if (random() < 0.5) {
          const known = keys();
          const key = known[Math.floor(random() * known.length)]!;
          context.op = { kind: 'get', key };
          return { ...req, method: 'GET', path: `/v1/objects/${encodeURIComponent(key)}`, body: undefined };
        }
        const key = `load/${counter++}`;
        const size = sizeOf();
        const offset = Math.floor(random() * MAX);
        context.op = { kind: 'put', key, offset, size };
        return { ...req, method: 'PUT', path: `/v1/objects/${encodeURIComponent(key)}`, body: source.subarray(offset, offset + size), headers: { authorization: auth, 'content-type': 'application/octet-stream' } };
      },
      onResponse: (status: number, _body: string, context: Record<string, unknown>) => {
        const op = context.op as { kind: 'get' | 'put'; key: string; offset: number; size: number };
        if (status >= 500) serverErrors++;
        else if (status >= 400) otherErrors++;
        if (op.kind === 'put') {
          puts++;
          if (status === 200) {
            const bytes = source.subarray(op.offset, op.offset + op.size);
            acknowledged.set(op.key, { offset: op.offset, size: op.size, digest: digest(bytes) });
          }
        } else gets++; // contents are compared after the run, for every acknowledged object
      },
    }],
  } as unknown as Parameters<typeof autocannon>[0]);

  loading = false;
  await keeper;
  // Every acknowledged object, read back and compared.
  let lost = 0;
  let wrong = 0;
  for (const [key, want] of acknowledged) {
    const r = await fetch(`${daemon.url}/v1/objects/${encodeURIComponent(key)}`, { headers: { authorization: auth } });
    if (r.status !== 200) {
      lost++;
      console.error(`lost: ${key} → ${r.status} ${await r.text()}`);
      continue;
    }
    const got = Buffer.from(await r.arrayBuffer());
    if (got.length !== want.size || digest(got) !== want.digest) {
      wrong++;
      console.error(`wrong bytes: ${key}`);
    }
  }
  const status = await (await fetch(`${daemon.url}/v1/scrub/status`, { headers: { authorization: auth } })).json() as { state: string; metrics: { extentsScanned: number; issuesFound: number } };
  const health = (await fetch(`${daemon.url}/health`)).status;
  const exit = await daemon.stop();
  pool.cleanup();

  const figures = [
    `Last run: \`npm run test:load\`, ${new Date().toISOString().slice(0, 10)}: ${CONNECTIONS} connections, ${SECONDS} s, GET and PUT half and half, bodies 4 KiB–4 MiB (log-uniform), scrubber at medium.`,
    '',
    table([
      ['req/s', 'p50 ms', 'p99 ms', 'MB/s', 'requests', 'PUTs', 'GETs', '5xx', '4xx', 'timeouts/errors', 'acknowledged', 'lost', 'wrong bytes', 'extents scrubbed', 'daemon exit'],
      [result.requests.average.toFixed(0), result.latency.p50, result.latency.p99, (result.throughput.average / 1e6).toFixed(1), result.requests.total, puts, gets, serverErrors, otherErrors,
        result.errors + result.timeouts, acknowledged.size, lost, wrong, status.metrics.extentsScanned, exit ?? 'signal'],
    ]),
  ].join('\n');
  console.log(figures);
  const ok = lost === 0 && wrong === 0 && serverErrors === 0 && result.errors === 0 && health === 200 && exit === 0;
  if (ok) writeFigures('load', figures);
  else console.error('test:load FAILED');
  process.exit(ok ? 0 : 1);
}

await main();
