// Public face of the cache domain.
export { ExtentCache, type CacheStats } from './extent-cache.js';
