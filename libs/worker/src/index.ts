export * from './agent-worker.js';
