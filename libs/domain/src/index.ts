export * from './errors.js';
export * from './principal.js';
export * from './ids.js';
export * from './idempotency-key.js';
export * from './request-id.js';
