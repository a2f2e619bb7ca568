import { runChaos, stopEverything } from './chaos/chaos.js';

// Whatever ends the run, the processes it started (ten apps, three NATS nodes, a PostgreSQL) go with it.
const bail = (why: string) => async (err?: unknown) => {
  console.error(`chaos: ${why}${err instanceof Error ? `: ${err.stack ?? err.message}` : ''}`);
  await stopEverything();
  process.exit(1);
};
process.once('SIGINT', bail('interrupted'));
process.once('SIGTERM', bail('terminated'));
process.once('uncaughtException', bail('uncaught exception'));
process.once('unhandledRejection', bail('unhandled rejection'));

runChaos(process.argv.slice(2)).then(
  (ok) => process.exit(ok ? 0 : 1),
  async (err: unknown) => {
    console.error(`chaos: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    await stopEverything();
    process.exit(1);
  },
);
