export * from './config.js';
export * from './verifier.js';
export * from './dev-token.js';
