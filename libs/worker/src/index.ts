export * from './agent-worker.js';
export { CLAIM_MAX, WORKER_ERROR_TYPES } from './report.js';
