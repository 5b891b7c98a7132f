// Bad calls give a coded error, never a crash or wrong output, on every variant.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createKernels } from '../../src/kernels/public.js';
import { KERNEL_VARIANTS, isVariantSupported, resolveVariant } from '../../src/kernels/loader.js';
import { isDfsError, type ErrorCode } from '../../src/errors.js';
import { randomBytes } from '../helpers/gf-reference.js';

function throwsCode(fn: () => unknown, code: ErrorCode, what: string): void {
  try {
    fn();
  } catch (error) {
    assert.ok(isDfsError(error), `${what}: threw a non-DfsError ${String(error)}`);
    assert.is((error as { code: string }).code, code, what);
    return;
  }
  assert.unreachable(`${what}: did not throw`);
}

for (const variant of KERNEL_VARIANTS.filter((v) => isVariantSupported(v))) {
  const test = suite(`bad-calls:${variant}`);

  test('K or M out of range', async () => {
    const k = await createKernels({ variant });
    const d = (n: number) => Array.from({ length: n }, () => new Uint8Array(32));
    throwsCode(() => k.rsEncode(0, 2, d(0)), 'DFS_ERR_KERNEL_K_RANGE', 'K=0');
    throwsCode(() => k.rsEncode(33, 2, d(33)), 'DFS_ERR_KERNEL_K_RANGE', 'K=33');
    throwsCode(() => k.rsEncode(2.5, 2, d(2)), 'DFS_ERR_KERNEL_K_RANGE', 'K=2.5');
    throwsCode(() => k.rsEncode(Number.NaN, 2, d(2)), 'DFS_ERR_KERNEL_K_RANGE', 'K=NaN');
    throwsCode(() => k.rsEncode(4, 0, d(4)), 'DFS_ERR_KERNEL_M_RANGE', 'M=0');
    throwsCode(() => k.rsEncode(4, 17, d(4)), 'DFS_ERR_KERNEL_M_RANGE', 'M=17');
    throwsCode(() => k.rsReconstruct(40, 2, new Array(42).fill(null)), 'DFS_ERR_KERNEL_K_RANGE', 'reconstruct K=40');
    throwsCode(() => k.verify(4, -1, d(3)), 'DFS_ERR_KERNEL_M_RANGE', 'verify M=-1');
  });

  test('fragments of unequal length or the wrong count', async () => {
    const k = await createKernels({ variant });
    throwsCode(() => k.rsEncode(2, 1, [new Uint8Array(16), new Uint8Array(17)]), 'DFS_ERR_KERNEL_FRAGMENT_SHAPE', 'unequal encode');
    throwsCode(() => k.rsEncode(3, 1, [new Uint8Array(16), new Uint8Array(16)]), 'DFS_ERR_KERNEL_FRAGMENT_SHAPE', 'too few data fragments');
    throwsCode(
      () => k.rsReconstruct(2, 1, [new Uint8Array(8), new Uint8Array(9), null]),
      'DFS_ERR_KERNEL_FRAGMENT_SHAPE',
      'unequal reconstruct',
    );
    throwsCode(() => k.rsReconstruct(2, 1, [new Uint8Array(8), null]), 'DFS_ERR_KERNEL_FRAGMENT_SHAPE', 'short fragment list');
    throwsCode(() => k.rsEncode(2, 1, ['ab', 'cd'] as unknown as Uint8Array[]), 'DFS_ERR_KERNEL_FRAGMENT_SHAPE', 'strings');
  });

  test('too few fragments to reconstruct', async () => {
    const k = await createKernels({ variant });
    const data = [randomBytes(100, 1), randomBytes(100, 2), randomBytes(100, 3), randomBytes(100, 4)];
    const parity = k.rsEncode(4, 2, data);
    throwsCode(
      () => k.rsReconstruct(4, 2, [null, null, null, data[3]!, parity[0]!, parity[1]!]),
      'DFS_ERR_KERNEL_TOO_FEW_FRAGMENTS',
      'three lost of 4+2',
    );
    // The instance is still good after the refusals.
    const back = k.rsReconstruct(4, 2, [null, data[1]!, null, data[3]!, parity[0]!, parity[1]!]);
    assert.equal(Array.from(back[0]!), Array.from(data[0]!));
  });

  test.run();
}

const loader = suite('loader');
loader('an unknown variant name is a config error', () => {
  throwsCode(() => {
    process.env.DYNAMICFS_KERNEL = 'turbo';
    try {
      resolveVariant();
    } finally {
      delete process.env.DYNAMICFS_KERNEL;
    }
  }, 'DFS_ERR_CONFIG_INVALID', 'DYNAMICFS_KERNEL=turbo');
});
loader('auto picks a variant the runtime validates', () => {
  const chosen = resolveVariant('auto');
  assert.ok(KERNEL_VARIANTS.includes(chosen));
  assert.ok(isVariantSupported(chosen));
});
loader.run();
