export * from './permissions.js';
export * from './identity.js';
export * from './server-config.js';
export * from './dev-server.js';
export * from './dev-ca.js';
export * from './cluster.js';
export * from './ports.js';
export * from './children.js';
