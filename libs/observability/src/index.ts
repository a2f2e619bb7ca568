export * from './config.js';
export * from './logging.js';
export * from './metrics.js';
export * from './metrics-text.js';
export * from './health.js';
