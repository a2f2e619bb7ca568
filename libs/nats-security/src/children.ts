import type { ChildProcess } from 'node:child_process';

const living = new Set<ChildProcess>();
let hooked = false;

/**
 * Makes a child process (a test stack's app or nats-server) die with this process. A runner that exits before its
 * teardown could stop them (Playwright's `globalTimeout` gives the teardown no time of its own; a Jest run cut off)
 * would otherwise leave them running, holding ports and database connections. `exit` handlers run synchronously, so
 * each is sent SIGKILL there; a child that has already exited is forgotten and never signalled.
 */
export function killOnExit(child: ChildProcess): ChildProcess {
  if (child.exitCode !== null || child.signalCode !== null) return child;
  living.add(child);
  child.once('exit', () => living.delete(child));
  if (!hooked) {
    hooked = true;
    process.once('exit', () => {
      for (const c of living) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    });
  }
  return child;
}
