export * from './nats-caller.js';
export * from './tokens.js';
export * from './service.js';
export * from './log-capture.js';
export * from './service-suite.js';
export * from './clock.js';
