export * from './authz-client.js';
export * from './authz-client.module.js';
export * from './decision-cache.js';
