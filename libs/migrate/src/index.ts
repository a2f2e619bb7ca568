export { migrate, migrationStatus, MigrationError, MIGRATIONS_TABLE, DEFAULT_LOCK_TIMEOUT_MS, DEFAULT_MAX_RETRIES } from './runner.js';
export type { MigrateOptions, MigrationState } from './runner.js';
export { ensureDatabase, dropDatabase } from './db.js';
export { readMigrations, type MigrationFile } from './files.js';
export { splitStatements, isNoTransaction, NO_TRANSACTION_DIRECTIVE, type Statement } from './sql.js';
export { lintMigrationFiles, RULE_PREFIX, type Finding, type LintOptions } from './lint.js';
export { checkDrift, formatDrift, type DriftItem, type DriftResult } from './drift.js';
export { discoverServices, type ServiceDb } from './services.js';
