// Preloaded into an app (NODE_OPTIONS="--import <this file>") by tools/bench/profile: the first SIGWINCH (not SIGUSR2: Nest shuts down on it) starts V8's
// sampling profiler, the second writes `<CPU_PROF_DIR>/<CPU_PROF_NAME>.cpuprofile` — so a profile covers exactly
// the load window, not boot or shutdown (Nest re-raises SIGTERM, so --cpu-prof would never write one).
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const session = new Session();
session.connect();
let running = false;
process.on('SIGWINCH', async () => {
  try {
    if (!running) {
      running = true;
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 200 });
      await session.post('Profiler.start');
      return;
    }
    running = false;
    const { profile } = await session.post('Profiler.stop');
    const file = join(process.env.CPU_PROF_DIR ?? '.', `${process.env.CPU_PROF_NAME ?? process.pid}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    process.stderr.write(`cpu profile written: ${file}\n`);
  } catch (err) {
    process.stderr.write(`cpu profile failed: ${err}\n`);
  }
});
