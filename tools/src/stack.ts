import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freeTcpPort, killOnExit, listenerOf, listensOn, PortTakenError, startOnFreePorts } from '@agentplane/nats-security';

/** The repository root, found from this file (tools/dist/stack.js or tools/src/stack.ts). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface ServiceSpec {
  name: string;
  port: number;
  /** Default database; absent for the gateway. */
  database?: string;
}

/** Every app of the stack with its default port and database (DESIGN §1, §11). */
export const SERVICES: ServiceSpec[] = [
  { name: 'authz-proxy', port: 3004, database: 'agentplane_authz_proxy' },
  { name: 'tasks', port: 3001, database: 'agentplane_tasks' },
  { name: 'hook-registry', port: 3002, database: 'agentplane_hook_registry' },
  { name: 'workspace-installer', port: 3003, database: 'agentplane_workspace_installer' },
  { name: 'gateway', port: 3000 },
];

export function migrationsDir(service: string): string {
  return join(REPO_ROOT, 'prisma', service, 'migrations');
}

export function databaseUrl(database: string, base = 'postgresql://postgres@127.0.0.1:5432/postgres'): string {
  const u = new URL(base);
  u.pathname = `/${database}`;
  return u.toString();
}

/** A free port for an app to listen on, outside the ephemeral range (freeTcpPort says why). */
export const freePort = freeTcpPort;

export interface RunningApp {
  spec: ServiceSpec;
  url: string;
  child: ChildProcess;
  /** Everything the app printed (JSON log lines), for tests that read the logs. */
  output: string[];
}

export interface StackOptions {
  /** Per-service environment (DATABASE_URL etc.) on top of `env`. */
  serviceEnv?: Record<string, Record<string, string>>;
  env: Record<string, string>;
  /** Fixed ports by app; the others get a free one (`pickPort`), and another if that one turns out taken. */
  ports?: Record<string, number>;
  /** How an app without a fixed port gets one (default freePort). */
  pickPort?: () => Promise<number>;
  /** Echo the apps' output to this process's stdout. */
  echo?: boolean;
  only?: string[];
}

export interface Stack {
  apps: Record<string, RunningApp>;
  gatewayUrl: string;
  stop(): Promise<void>;
}

/**
 * Waits until the app answers /readyz, and makes sure the answer is the app's own: a port checked free can be taken
 * by another process (another test's stack) before the app listens on it, and that process would answer instead.
 * Throws PortTakenError then, or when the app exits because the port is in use.
 */
export async function waitReady(app: RunningApp, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const port = Number(new URL(app.url).port);
  let last = '';
  while (Date.now() < deadline) {
    if (app.child.exitCode !== null) {
      const why = `${app.spec.name} exited with code ${app.child.exitCode}:\n${app.output.slice(-20).join('\n')}`;
      throw app.output.some((l) => l.includes('EADDRINUSE')) ? new PortTakenError(why) : new Error(why);
    }
    try {
      const res = await fetch(`${app.url}/readyz`);
      if (res.ok) {
        if (app.child.exitCode !== null) continue; // said at the loop's top
        if (app.child.pid !== undefined && listensOn(app.child.pid, port) === false) throw new PortTakenError(`${app.spec.name} (pid ${app.child.pid}): port ${port} answered /readyz, but another process listens there: ${listenerOf(port) ?? 'unknown'}`);
        return;
      }
      last = `${res.status} ${await res.text()}`;
    } catch (err) {
      if (err instanceof PortTakenError) throw err;
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`${app.spec.name} not ready after ${timeoutMs} ms (${last}):\n${app.output.slice(-20).join('\n')}`);
}

export function stopChild(child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Starts one built app (`apps/<name>/dist/main.js`) as its own process. */
export function spawnApp(spec: ServiceSpec, port: number, env: Record<string, string>, echo = false): RunningApp {
  const main = join(REPO_ROOT, 'apps', spec.name, 'dist', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: build first (npx nx run-many -t build)`);
  const child = killOnExit(
    spawn(process.execPath, [main], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', ...env, HTTP_PORT: String(port), HTTP_HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const app: RunningApp = { spec, url: `http://127.0.0.1:${port}`, child, output: [] };
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      app.output.push(line);
      if (app.output.length > 20_000) app.output.splice(0, 10_000);
      if (echo) process.stdout.write(`[${spec.name}] ${line}\n`);
    }
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  return app;
}

/**
 * Starts one built app and waits until it answers /readyz on its own port (waitReady). On a picked port that another
 * process holds, again on a new one (3 tries); a fixed `port` stays, and PortTakenError says who holds it.
 */
export async function startApp(
  spec: ServiceSpec,
  env: Record<string, string>,
  opts: { port?: number; pickPort?: () => Promise<number>; echo?: boolean; timeoutMs?: number; spawned?: (app: RunningApp) => void } = {},
): Promise<RunningApp> {
  return startOnFreePorts(
    async () => {
      const app = spawnApp(spec, opts.port ?? (await (opts.pickPort ?? freePort)()), env, opts.echo);
      opts.spawned?.(app);
      try {
        // 60 s: beside the whole test suite on 2 cores, one of five apps started together once took over 30 s
        await waitReady(app, opts.timeoutMs ?? 60_000);
        return app;
      } catch (err) {
        if (err instanceof PortTakenError) await stopChild(app.child);
        throw err;
      }
    },
    { fixed: opts.port !== undefined },
  );
}

/** Starts the apps together and waits until each answers /readyz on its own port (waitReady). */
export async function startStack(opts: StackOptions): Promise<Stack> {
  const apps: Record<string, RunningApp> = {};
  const specs = SERVICES.filter((s) => !opts.only || opts.only.includes(s.name));
  const stop = async () => {
    for (const a of Object.values(apps)) {
      // An app that died on its own says so where the test's failure is read (CI's log), not only in its output.
      if (a.child.exitCode) console.error(`stack: ${a.spec.name} had exited with code ${a.child.exitCode} before the stack stopped:\n${a.output.slice(-20).join('\n')}`);
    }
    await Promise.all(Object.values(apps).map((a) => stopChild(a.child)));
  };
  const env = (spec: ServiceSpec) => ({ ...opts.env, ...(opts.serviceEnv?.[spec.name] ?? {}) });
  const start = (spec: ServiceSpec) =>
    startApp(spec, env(spec), { port: opts.ports?.[spec.name], pickPort: opts.pickPort, echo: opts.echo, spawned: (app) => (apps[spec.name] = app) });
  try {
    await Promise.all(specs.map(start));
  } catch (err) {
    await stop();
    throw err;
  }
  return { apps, gatewayUrl: apps.gateway?.url ?? '', stop };
}
