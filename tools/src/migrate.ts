import { migrateCli, processIo } from './migrate-cli.js';

process.exitCode = await migrateCli(process.argv.slice(2), processIo());
