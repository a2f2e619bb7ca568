import { lintCli, processIo } from './migrate-cli.js';

process.exitCode = await lintCli(process.argv.slice(2), processIo());
