import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// run from its source by Node's own type stripping (Node 24), as a separate process
const CHILDREN_TS = fileURLToPath(new URL('../src/children.ts', import.meta.url));

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * A runner (this child node process, as Playwright's is) starts two long-lived children, one through killOnExit, and
 * exits as a runner cut off by its global timeout does: without stopping them. It prints both pids first.
 */
async function runnerThatExits(how: 'exit' | 'throw'): Promise<{ kept: number; plain: number; code: number | null }> {
  const script = `
    import { spawn } from 'node:child_process';
    import { killOnExit } from ${JSON.stringify(CHILDREN_TS)};
    const kept = killOnExit(spawn('sleep', ['300'], { stdio: 'ignore' }));
    const plain = spawn('sleep', ['300'], { stdio: 'ignore' });
    const done = killOnExit(spawn('true', [], { stdio: 'ignore' }));
    done.once('exit', () => {
      console.log(JSON.stringify({ kept: kept.pid, plain: plain.pid }));
      ${how === 'exit' ? 'process.exit(3);' : "setTimeout(() => { throw new Error('runner failed'); }, 10);"}
    });`;
  const runner = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  runner.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  const code = await new Promise<number | null>((r) => runner.once('exit', r));
  return { ...(JSON.parse(out) as { kept: number; plain: number }), code };
}

async function gone(pid: number): Promise<boolean> {
  for (const deadline = Date.now() + 3_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 20))) if (!alive(pid)) return true;
  return false;
}

describe('killOnExit: a test stack dies with the runner that started it', () => {
  it.each(['exit', 'throw'] as const)('a runner that ends by %s takes the children it registered with it, and only those', async (how) => {
    const { kept, plain, code } = await runnerThatExits(how);
    try {
      expect(code).toBe(how === 'exit' ? 3 : 1);
      expect(await gone(kept)).toBe(true);
      // the control: a child not registered outlives its runner, which is what the stack's apps did
      expect(alive(plain)).toBe(true);
    } finally {
      for (const pid of [kept, plain]) if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
});
