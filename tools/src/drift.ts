import { driftCli, processIo } from './migrate-cli.js';

process.exitCode = await driftCli(process.argv.slice(2), processIo());
