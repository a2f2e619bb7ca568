// Framework-free core
export * from './core/scope.js';
export * from './core/hash.js';
export * from './core/table.js';
export * from './core/config.js';
export * from './core/store.js';
export * from './core/idempotency.js';
// Thin Nest shell
export * from './nest/idempotency.guard.js';
export * from './nest/idempotent.decorator.js';
export * from './nest/idempotency.module.js';
