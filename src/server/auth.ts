// /v1 takes the pool's bearer token; /health and /metrics are open to
// monitors. The same hook refuses a body that is not JSON on a JSON route
// (415), before its schema would call it a mismatch.
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { createHash, timingSafeEqual } from 'node:crypto';
import { DfsError } from '../errors.js';
import { enterLogContext, type Logger } from '../log/index.js';
import { sendError } from './errors.js';

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Constant-time comparison of a presented bearer token with the pool's. */
export function tokenMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return timingSafeEqual(digest(match?.[1] ?? ''), digest(token)) && match !== null;
}

export const authPlugin = fp(async (app: FastifyInstance, { token }: { token: string }) => {
  app.addHook('onRequest', async (request, reply) => {
    enterLogContext(request.log as unknown as Logger);
    reply.header('x-request-id', request.id);
    if (request.url.startsWith('/v1') && !tokenMatches(request.headers.authorization, token)) {
      request.log.warn({ method: request.method, url: request.url, ip: request.ip, presented: request.headers.authorization ? 'a wrong token' : 'no token' }, 'authentication failed');
      void reply.header('www-authenticate', 'Bearer realm="dynamicfs"');
      return sendError(reply, new DfsError('DFS_ERR_API_UNAUTHORIZED'));
    }
    const type = request.headers['content-type'];
    if (request.routeOptions.schema?.body && type !== undefined && !/^application\/json\s*(;|$)/i.test(type)) {
      return sendError(reply, new DfsError('DFS_ERR_API_MEDIA_TYPE', `${request.method} ${request.routeOptions.url} takes application/json, not ${type.slice(0, 80)}`));
    }
  });
}, { name: 'dynamicfs-auth' });
