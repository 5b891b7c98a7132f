// Errors as {"error":{"code","message"}} with the registry's status and no
// internals, for every way a request can fail: a route's DfsError, a schema
// mismatch, fastify's own refusals before a route runs, and what Node's HTTP
// parser meets before fastify sees anything.
import type { FastifyInstance, FastifyReply, FastifyServerOptions } from 'fastify';
import fp from 'fastify-plugin';
import { DfsError, ERRORS, serializeError } from '../errors.js';

export function sendError(reply: FastifyReply, error: DfsError | { code: keyof typeof ERRORS; message: string }): FastifyReply {
  const status = error instanceof DfsError ? error.httpStatus : ERRORS[error.code].httpStatus;
  return reply.code(status).type('application/json').send({ error: { code: error.code, message: error.message } });
}

const badRequest = (detail: string) => ({ code: 'DFS_ERR_API_BAD_REQUEST', message: `${ERRORS.DFS_ERR_API_BAD_REQUEST.message}: ${detail}` }) as const;

/** Errors fastify raises before a route runs (a malformed URL encoding) get our shape and codes. */
export const frameworkErrors: NonNullable<FastifyServerOptions['frameworkErrors']> = (error, _request, reply) => {
  void sendError(reply, badRequest(error.code === 'FST_ERR_BAD_URL' ? 'the URL is not valid percent-encoding' : error.message));
};

/** Errors Node's HTTP parser meets (headers or URL too large, a malformed request line): written to the socket as it is. */
export const clientErrorHandler: NonNullable<FastifyServerOptions['clientErrorHandler']> = (error: Error & { code?: string }, socket) => {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, text] = error.code === 'HPE_HEADER_OVERFLOW'
    ? [431, 'DFS_ERR_API_HEADERS_TOO_LARGE', 'Request Header Fields Too Large'] as const
    : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'DFS_ERR_API_TIMEOUT', 'Request Timeout'] as const
      : [400, 'DFS_ERR_API_BAD_REQUEST', 'Bad Request'] as const;
  const body = JSON.stringify({ error: { code, message: ERRORS[code].message } });
  if (socket.writable) socket.write(`HTTP/1.1 ${status} ${text}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`);
  socket.destroy(error);
};

/** The error handler and the not-found answer, for the whole application. */
export const errorsPlugin = fp(async (app: FastifyInstance) => {
  app.setErrorHandler((error: Error & { code?: string; statusCode?: number; validation?: unknown }, request, reply) => {
    if (error instanceof DfsError) {
      if (error.httpStatus >= 500) request.log.error({ code: error.code, err: error.message }, 'request failed');
      return sendError(reply, error);
    }
    if (error.validation) return sendError(reply, { code: 'DFS_ERR_API_VALIDATION', message: `${ERRORS.DFS_ERR_API_VALIDATION.message}: ${error.message}` });
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || error.statusCode === 413) return sendError(reply, new DfsError('DFS_ERR_API_BODY_TOO_LARGE'));
    if (error.statusCode === 415) return sendError(reply, new DfsError('DFS_ERR_API_MEDIA_TYPE', error.message));
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) return sendError(reply, badRequest(error.message));
    const serialized = serializeError(error);
    if (serialized.code !== 'DFS_ERR_INTERNAL_UNEXPECTED') return sendError(reply, serialized); // a damaged catalogue, say
    request.log.error({ err: error }, 'unexpected error');
    return sendError(reply, { code: serialized.code, message: ERRORS.DFS_ERR_INTERNAL_UNEXPECTED.message });
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, new DfsError('DFS_ERR_API_NOT_FOUND', `${request.method} ${request.url.split('?')[0]}`)));
}, { name: 'dynamicfs-errors' });
