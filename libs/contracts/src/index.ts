export * from './rpc.js';
export * from './envelope.js';
export * from './subjects.js';
export * from './tasks.contract.js';
export * from './authz.contract.js';
export * from './hooks.contract.js';
export * from './workspaces.contract.js';
export * from './cursor.js';
