// s3-key create|list|delete: the S3 endpoint's access keys, kept in the
// pool (s3-keys.json, mode 0600). They work whether or not a daemon runs;
// a running daemon sees the change on its next request.
import type { Command } from 'commander';
import { poolPaths, readPoolConfig } from '../pool/index.js';
import type { CliContext } from './context.js';
import { printResult, table } from './output.js';

export function registerS3Commands(program: Command, ctx: CliContext): void {
  // The S3 domain (its server and XML) loads only when an s3-key command runs.
  const s3 = () => import('../s3/index.js');
  const keysFile = () => {
    const dir = ctx.poolDir();
    readPoolConfig(dir); // a pool, or DFS_ERR_POOL_NOT_FOUND
    return poolPaths(dir).s3Keys;
  };
  const s3Key = program.command('s3-key').description('access keys of the S3 endpoint: create, list, delete');
  s3Key
    .command('create')
    .description('create an access key; its secret is printed this once')
    .option('--name <name>', 'a note of who or what the key is for', '')
    .action(async (opts: { name: string }) => {
      const key = (await s3()).createAccessKey(keysFile(), opts.name);
      printResult(ctx.json(), { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey }, () => [
        `accessKeyId:     ${key.accessKeyId}`,
        `secretAccessKey: ${key.secretAccessKey}`,
        'The secret is not shown again; keep it now.',
      ].join('\n'));
    });
  s3Key
    .command('list')
    .description('access keys (without their secrets)')
    .action(async () => {
      const keys = (await s3()).listAccessKeys(keysFile());
      printResult(ctx.json(), { keys }, () => (keys.length === 0 ? 'no S3 access keys (create one with `dynamicfs s3-key create`)' : table(['ACCESS KEY ID', 'NAME', 'CREATED'], keys.map((k) => [k.accessKeyId, k.name, k.createdAt]))));
    });
  s3Key
    .command('delete')
    .description('delete an access key: requests signed with it are refused from then on')
    .argument('<id>', 'access key id')
    .action(async (id: string) => {
      (await s3()).deleteAccessKey(keysFile(), id);
      printResult(ctx.json(), { accessKeyId: id, deleted: true }, () => `deleted ${id}`);
    });
}
