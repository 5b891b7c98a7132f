// Public face of the S3 domain: the listener and its access keys.
export { createS3Server, type S3ServerOptions } from './server.js';
export { createAccessKey, deleteAccessKey, listAccessKeys, type AccessKey } from './credentials.js';
export { crc32c } from './checksums.js';
