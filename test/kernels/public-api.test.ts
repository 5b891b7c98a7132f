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

test('the zero-copy paths: codeBuffers codes in place, rsEncode writes into the caller\'s buffers; both agree with the copying API', async () => {
  const api = await import('dynamicfs/kernels');
  const k = await api.createKernels();
  const length = 65536 + 7;
  const data = Array.from({ length: 4 }, (_, i) => Uint8Array.from({ length }, (_, j) => (j * (i + 3) + (j >> 9)) & 0xff));
  const expected = k.rsEncode(4, 2, data);
  const out = [new Uint8Array(length), new Uint8Array(length)];
  const returned = k.rsEncode(4, 2, data, out);
  assert.ok(returned[0] === out[0] && returned[1] === out[1], 'rsEncode did not hand back the caller\'s buffers');
  assert.equal(Array.from(out[1]!.subarray(0, 64)), Array.from(expected[1]!.subarray(0, 64)));
  assert.ok(Buffer.from(out[0]!).equals(Buffer.from(expected[0]!)) && Buffer.from(out[1]!).equals(Buffer.from(expected[1]!)));
  assert.throws(() => k.rsEncode(4, 2, data, [new Uint8Array(length)]), (e: Error & { code?: string }) => e.code === 'DFS_ERR_KERNEL_FRAGMENT_SHAPE');
  assert.throws(() => k.rsEncode(4, 2, data, [new Uint8Array(length), new Uint8Array(3)]), (e: Error & { code?: string }) => e.code === 'DFS_ERR_KERNEL_FRAGMENT_SHAPE');

  const code = k.codeBuffers(4, 2, length);
  data.forEach((d, i) => code.fragment(i).set(d));
  code.encode();
  // Another code and more work on the main instance: this one's views stay valid and unchanged.
  const other = k.codeBuffers(8, 4, 1 << 20);
  other.fragment(0).fill(9);
  other.encode();
  k.rsEncode(4, 2, data.map((d) => d.subarray(0, 100)));
  assert.ok(Buffer.from(code.fragment(4)).equals(Buffer.from(expected[0]!)) && Buffer.from(code.fragment(5)).equals(Buffer.from(expected[1]!)), 'parity in place differs');
  assert.is(code.hash(4), k.xxh3(expected[0]!));
  const lost = Buffer.from(code.fragment(1));
  code.fragment(1).fill(0);
  code.fragment(5).fill(0);
  code.reconstruct([true, false, true, true, true, false]);
  assert.ok(Buffer.from(code.fragment(1)).equals(lost) && Buffer.from(code.fragment(5)).equals(Buffer.from(expected[1]!)), 'reconstruction in place differs');
  assert.equal(code.verify(true).parityOk, [true, true]);
  code.fragment(2)[10]! ^= 1;
  assert.equal(code.verify(true).parityOk, [false, false]);
  assert.throws(() => code.fragment(6), (e: Error & { code?: string }) => e.code === 'DFS_ERR_KERNEL_FRAGMENT_SHAPE');
  assert.throws(() => k.codeBuffers(0, 2, 10), (e: Error & { code?: string }) => e.code === 'DFS_ERR_KERNEL_K_RANGE');
});

test.run();
