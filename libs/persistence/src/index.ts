export * from './prisma.js';
export * from './transaction.js';
export * from './test-database.js';
export * from './prisma.module.js';
export * from './sql.js';
export * from './transaction-lock.js';
export * from './plans.js';
export * from './turn-batch.js';
