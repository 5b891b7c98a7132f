// For the crash harness: puts several small objects at once through one
// engine, so that they are committed together as one group, and prints
// "ok KEY" the moment each put is acknowledged. Killed at a crash point, the
// lines printed are exactly the puts that were acknowledged.
//   node group-put.js POOL KEY=FILE...
import { writeSync } from 'node:fs';
import { Engine, fileSource, putObject } from '../../src/store/index.js';

const [pool, ...pairs] = process.argv.slice(2);
const engine = Engine.open(pool!, { role: 'group-put', cacheBytes: 0 });
try {
  await Promise.all(pairs.map(async (pair) => {
    const at = pair.indexOf('=');
    const key = pair.slice(0, at);
    await putObject(engine, await fileSource(pair.slice(at + 1)), key);
    writeSync(1, `ok ${key}\n`);
  }));
} finally {
  await engine.close();
}
