// Public face of the server domain: the daemon and its fastify application.
export { runDaemon, type DaemonOptions, type DaemonInfo } from './daemon.js';
export { buildApp, tokenMatches, type AppOptions, type DynamicfsApp } from './app.js';
