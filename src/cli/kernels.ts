// `dynamicfs kernels`: which kernel variant this runtime uses and which it accepts.
import type { Command } from 'commander';
import { KERNEL_VARIANTS, isVariantSupported, resolveVariant } from '../kernels/index.js';
import { printResult } from './output.js';

export function registerKernelCommands(program: Command, json: () => boolean): void {
  program
    .command('kernels')
    .description('show the WASM kernel variant in use and the variants this runtime accepts')
    .action(() => {
      const selected = resolveVariant();
      const supported = KERNEL_VARIANTS.filter((v) => isVariantSupported(v));
      printResult(json(), { selected, supported, node: process.version }, () =>
        [`selected: ${selected}`, `supported: ${supported.join(', ')}`, `node: ${process.version}`].join('\n'),
      );
    });
}
