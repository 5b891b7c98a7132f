export { BufferArena, MIN_BLOCK, type ArenaStats, type Lease } from './arena.js';
