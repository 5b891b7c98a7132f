// `dynamicfs/kernels` as a user imports it: through the package's exports map.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

test('dynamicfs/kernels resolves and exposes createKernels', async () => {
  const api = await import('dynamicfs/kernels');
  assert.type(api.createKernels, 'function');
  const k = await api.createKernels();
  assert.type(k.xxh3, 'function');
  assert.type(k.rsEncode, 'function');
  assert.type(k.rsReconstruct, 'function');
  const data = [new Uint8Array([1, 2, 3]), new Uint8Array([4, 5, 6])];
  const parity = k.rsEncode(2, 2, data);
  assert.is(parity.length, 2);
  const all = k.rsReconstruct(2, 2, [null, data[1]!, parity[0]!, null]);
  assert.equal(Array.from(all[0]!), [1, 2, 3]);
  assert.is(all.length, 4);
  // XXH3-64 of the empty input, from the xxHash specification's test vectors.
  assert.is(k.xxh3(new Uint8Array(0)), 0x2d06800538d394c2n);
});

test.run();
