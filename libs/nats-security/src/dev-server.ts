import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { ensureDevCa, type DevCa } from './dev-ca.js';
import { ensureIdentity, type NatsIdentity } from './identity.js';
import { killOnExit } from './children.js';
import { listenerOf, listensOn, PortTakenError, startOnFreePorts } from './ports.js';
import { SERVICE_IDENTITIES, loadPermissionTable, type PermissionEntry } from './permissions.js';
import { renderServerConfig } from './server-config.js';

/** What a running development server left in `<dir>/state.json`, so `npm run nats:caller` can find and reload it. */
export interface DevNatsState {
  url: string;
  pid: number;
  configFile: string;
  identitiesDir: string;
  prefix: string;
  port: number;
  storeDir: string;
  /** The CA and a client certificate for clients; the server's own certificate and key. */
  tls?: { ca: string; cert: string; key: string; serverCert: string; serverKey: string };
  /** Identities outside the committed table (test runs only, e.g. the messaging library's own mechanics tests). */
  extraIdentities?: Record<string, PermissionEntry>;
  /** nats-server's Go profiler port, when asked for (DevNatsOptions.profPort). */
  profPort?: number;
}

export interface DevNatsOptions {
  /** Everything goes here: identities/, nats.conf, jetstream/, nats.log, state.json (`.dev/nats` for the stack). */
  dir: string;
  /** 0 or absent: a free port (pickPort's), another one if that one is taken before nats-server binds it. */
  port?: number;
  /** How a free port is picked (freeTcpPort); a test hands one that is taken. */
  pickPort?: () => Promise<number>;
  prefix?: string;
  tls?: boolean;
  /** Identities besides the platform's own (callers). */
  callers?: string[];
  /** The nats-server binary: NATS_SERVER_BIN, else `nats-server` on the PATH, else /usr/sbin/nats-server. */
  bin?: string;
  /** Keep JetStream's store from an earlier run (the stack: yes; a test: no). */
  keepStore?: boolean;
  /** Identities with permissions of their own, beside the committed table's (test runs only). */
  extraIdentities?: Record<string, PermissionEntry>;
  /** Serve nats-server's Go profiler on this port (the profiling bench); absent: no profiler. */
  profPort?: number;
}

export interface DevNats {
  url: string;
  port: number;
  state: DevNatsState;
  child: ChildProcess;
  ca?: DevCa;
  /** The identity of a platform process or caller (created on first use; a new caller reloads the server). */
  identity(name: string): Promise<NatsIdentity>;
  /** The environment a process of that identity needs: NATS_URL, its seed file and inbox prefix, and TLS files. */
  env(name: string): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

export function natsServerBin(explicit?: string): string {
  if (explicit) return explicit;
  if (process.env.NATS_SERVER_BIN) return process.env.NATS_SERVER_BIN;
  for (const d of (process.env.PATH ?? '').split(':')) if (d && existsSync(join(d, 'nats-server'))) return join(d, 'nats-server');
  return '/usr/sbin/nats-server';
}

/**
 * The ports the kernel hands out as the local end of outgoing connections (`ip_local_port_range`); Linux's default
 * where /proc does not say.
 */
function ephemeralPorts(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo !== undefined && hi !== undefined && lo > 0 && hi >= lo) return [lo, hi];
  } catch {
    // not Linux, or no /proc: the default below
  }
  return [32768, 60999];
}

/** Listens on 127.0.0.1:`port` (0: any) and closes again; the port it got, or undefined when it was taken. */
function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(undefined));
    srv.listen(port, '127.0.0.1', () => {
      const got = (srv.address() as { port: number }).port;
      srv.close(() => resolve(got));
    });
  });
}

/** The ports freeTcpPort handed out in this process, oldest first. */
const handedOut = new Set<number>();

/**
 * A port for a server (nats-server, an app) to listen on, checked free, and below the ephemeral range: a port from
 * `listen(0)` comes from that range, so between the check and the server's own listen any process's outgoing
 * connection (to PostgreSQL, NATS, …) may take it as its local port, and the server fails with EADDRINUSE (seen in
 * CI). Below the range only another listener can take it in that window, and each caller picks at random among some
 * twelve thousand ports. Where the range leaves no room below it, `listen(0)`. A process is never handed the same
 * port twice (of its last thousand): a caller that picks several before starting anything (the chaos run's ten
 * apps) gets as many ports.
 */
export async function freeTcpPort(): Promise<number> {
  const [lo] = ephemeralPorts();
  const floor = Math.max(1024, Math.min(20_000, lo - 4_096));
  const handOut = (port: number) => {
    handedOut.add(port);
    if (handedOut.size > 1_000) handedOut.delete(handedOut.values().next().value as number);
    return port;
  };
  if (lo - floor >= 1_000) {
    for (let i = 0; i < 100; i++) {
      const pick = floor + Math.floor(Math.random() * (lo - floor));
      if (handedOut.has(pick)) continue;
      const port = await tryListen(pick);
      // asked concurrently, two callers can draw the same free port: the first back has it
      if (port !== undefined && !handedOut.has(port)) return handOut(port);
    }
  }
  for (let i = 0; i < 100; i++) {
    const port = await tryListen(0);
    if (port === undefined) break;
    if (!handedOut.has(port)) return handOut(port);
  }
  throw new Error('no free TCP port on 127.0.0.1');
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Runs `nats-server -c <configFile>` and resolves once it accepts connections on `port` itself; rejects (killing it)
 * with the server's own words when it exits or does not listen within 10 s. A port checked free can be taken by
 * another process (another test's server or app) before nats-server binds it; connections would then reach that
 * process instead, so it rejects with PortTakenError when another process holds the port (before the start or once it
 * answers) or when nats-server could not bind it.
 */
export async function spawnNatsServer(opts: { configFile: string; port: number; bin?: string; logFile?: string }): Promise<ChildProcess> {
  if (await portOpen(opts.port)) throw new PortTakenError(`port ${opts.port} is taken (${listenerOf(opts.port) ?? 'by whom unknown'}): cannot start a NATS server of our own there`);
  const logFrom = opts.logFile && existsSync(opts.logFile) ? statSync(opts.logFile).size : 0; // this start's lines only
  const child = killOnExit(spawn(natsServerBin(opts.bin), ['-c', opts.configFile], { stdio: ['ignore', 'ignore', 'pipe'] }));
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const deadline = Date.now() + 10_000;
  const fail = (error: Error): never => {
    child.kill('SIGKILL');
    throw error;
  };
  for (;;) {
    const open = await portOpen(opts.port);
    if (child.exitCode !== null || child.signalCode !== null || (!open && Date.now() > deadline)) {
      await new Promise((r) => setTimeout(r, 50)); // the last of its stderr
      const log = opts.logFile && existsSync(opts.logFile) ? readFileSync(opts.logFile).subarray(logFrom).toString('utf8').slice(-2000) : '';
      const why = `nats-server did not start on port ${opts.port}: ${stderr}${log}`;
      fail(/address already in use/i.test(why) ? new PortTakenError(why) : new Error(why));
    }
    if (open) {
      if (child.pid !== undefined && listensOn(child.pid, opts.port) === false) fail(new PortTakenError(`port ${opts.port} answers, but another process than nats-server (pid ${child.pid}) listens there: ${listenerOf(opts.port) ?? 'unknown'}`));
      return child;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Stops a nats-server (SIGTERM, SIGKILL after 5 s). */
export function stopNatsServer(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Every identity whose seed is in the directory (the platform's own and the callers added so far). */
export function identitiesIn(dir: string): NatsIdentity[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.nk'))
    .sort()
    .map((f) => ensureIdentity(dir, f.slice(0, -3)));
}

/** Renders the state's server config again from the identities on disk (after a caller was added). */
export function rerenderDevConfig(state: DevNatsState): void {
  const base = loadPermissionTable();
  const table = { ...base, identities: { ...base.identities, ...(state.extraIdentities ?? {}) } };
  const tls = state.tls ? { ca: state.tls.ca, cert: state.tls.serverCert, key: state.tls.serverKey } : undefined;
  writeFileSync(
    state.configFile,
    renderServerConfig({
      port: state.port,
      storeDir: state.storeDir,
      identities: identitiesIn(state.identitiesDir),
      prefix: state.prefix,
      tls,
      logFile: join(state.configFile, '..', 'nats.log'),
      table,
      ...(state.profPort ? { profPort: state.profPort } : {}),
    }),
    { mode: 0o600 },
  );
}

/** Adds (or reuses) a caller's identity for a running development server and makes the server reload its config. */
export function addCallerToRunningServer(dir: string, name: string): { identity: NatsIdentity; state: DevNatsState } {
  const stateFile = join(dir, 'state.json');
  if (!existsSync(stateFile)) throw new Error(`no development NATS server state in ${stateFile}: is the stack running (npm start)?`);
  const state = JSON.parse(readFileSync(stateFile, 'utf8')) as DevNatsState;
  try {
    process.kill(state.pid, 0);
  } catch {
    throw new Error(`the development NATS server (pid ${state.pid}) is not running: start the stack (npm start)`);
  }
  const identity = ensureIdentity(state.identitiesDir, name);
  if (identity.created) {
    rerenderDevConfig(state);
    process.kill(state.pid, 'SIGHUP'); // nats-server reloads its configuration on SIGHUP
  }
  return { identity, state };
}

/**
 * Starts a nats-server of our own with JetStream and the project's secured config (DESIGN §2.1): the platform's
 * identities plus any callers, permissions from docker/nats/permissions.json, TLS with a development CA when asked.
 * Resolves once the server accepts connections.
 */
export async function startDevNats(opts: DevNatsOptions): Promise<DevNats> {
  const dir = opts.dir;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const identitiesDir = join(dir, 'identities');
  for (const name of [...SERVICE_IDENTITIES, ...Object.keys(opts.extraIdentities ?? {}), ...(opts.callers ?? [])]) ensureIdentity(identitiesDir, name);
  const storeDir = join(dir, 'jetstream');
  if (!opts.keepStore) rmSync(storeDir, { recursive: true, force: true });
  const ca = opts.tls ? ensureDevCa(join(dir, 'tls')) : undefined;
  const configFile = join(dir, 'nats.conf');
  const scheme = ca ? 'tls' : 'nats';
  const state: DevNatsState = {
    url: '', // and port: each start's (below)
    pid: 0,
    configFile,
    identitiesDir,
    prefix: opts.prefix ?? '',
    port: 0,
    storeDir,
    ...(ca ? { tls: { ca: ca.ca, cert: ca.clientCert, key: ca.clientKey, serverCert: ca.serverCert, serverKey: ca.serverKey } } : {}),
    ...(opts.extraIdentities ? { extraIdentities: opts.extraIdentities } : {}),
    ...(opts.profPort ? { profPort: opts.profPort } : {}),
  };
  // A picked port that another process took meanwhile: again on a new one; a port asked for stays.
  const child = await startOnFreePorts(
    async () => {
      const port = opts.port || (await (opts.pickPort ?? freeTcpPort)());
      Object.assign(state, { port, url: `${scheme}://127.0.0.1:${port}` });
      rerenderDevConfig(state);
      return spawnNatsServer({ configFile, port, bin: opts.bin, logFile: join(dir, 'nats.log') });
    },
    { fixed: !!opts.port },
  );
  state.pid = child.pid ?? 0;
  writeFileSync(join(dir, 'state.json'), `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  const identity = async (name: string): Promise<NatsIdentity> => {
    const id = ensureIdentity(identitiesDir, name);
    if (id.created) {
      rerenderDevConfig(state);
      child.kill('SIGHUP');
      await new Promise((r) => setTimeout(r, 250)); // the reload is asynchronous; nats-server applies it in well under this
    }
    return id;
  };
  return {
    url: state.url,
    port: state.port,
    state,
    child,
    ca,
    identity,
    async env(name) {
      const id = await identity(name);
      return {
        NATS_URL: state.url,
        NATS_NKEY_SEED_FILE: id.seedFile,
        NATS_INBOX_PREFIX: id.inboxPrefix,
        ...(ca ? { NATS_TLS_CA: ca.ca } : {}),
      };
    },
    stop: () => stopNatsServer(child),
  };
}
