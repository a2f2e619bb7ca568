import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import { freeTcpPort, listenerOf, listensOn, natsServerBin, PortTakenError, startDevNats, startNatsCluster, type NatsIdentity } from '../src/index.js';

/** A TCP server on `port` in this process that accepts every connection: what a port another test took looks like. */
function impostor(port: number): Promise<Server & { accepted: number }> {
  const srv = Object.assign(
    createServer((s) => {
      srv.accepted++;
      s.destroy();
    }),
    { accepted: 0 },
  );
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
}
const close = (srv: Server) => new Promise((r) => srv.close(r));

/** A client of that identity connects and round-trips to the server(s). */
async function serves(servers: string, id: NatsIdentity): Promise<void> {
  const nc = await connect({ servers: servers.split(','), authenticator: nkeyAuthenticator(new TextEncoder().encode(readFileSync(id.seedFile, 'utf8').trim())), inboxPrefix: id.inboxPrefix });
  await nc.flush();
  await nc.close();
}

/**
 * nats-server, started a second late: the window in which another process can take the port checked free. Each start
 * first leaves `spawned` beside its config (`-c <dir>/nats.conf`), so a test knows the check is behind it.
 */
function lateNatsServer(dir: string): string {
  const bin = join(dir, 'late-nats-server');
  writeFileSync(bin, `#!/bin/sh\ntouch "$(dirname "$2")/spawned"\nsleep 1\nexec '${natsServerBin()}' "$@"\n`);
  chmodSync(bin, 0o755);
  return bin;
}

/** Waits until a late nats-server was spawned with its config in `configDir`: its port's check has passed. */
async function spawnedIn(configDir: string): Promise<void> {
  for (const deadline = Date.now() + 10_000; !existsSync(join(configDir, 'spawned')); ) {
    if (Date.now() > deadline) throw new Error(`no nats-server was spawned for ${configDir}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('servers of our own on ports of their own (ports.ts, spawnNatsServer)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'nats-ports-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('tells which process listens on a port', async () => {
    const port = await freeTcpPort();
    const child: ChildProcess = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(${port}, '127.0.0.1', () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise((r) => child.stdout!.once('data', r));
      expect(listensOn(child.pid!, port)).toBe(true);
      expect(listensOn(process.pid, port)).toBe(false);
      expect(listenerOf(port)).toBe(`pid ${child.pid} (${process.execPath} -e ${(child.spawnargs[2] ?? '').slice(0, 200 - process.execPath.length - 4)})`);
      const other = await freeTcpPort();
      const srv = await impostor(other);
      expect(listensOn(process.pid, other)).toBe(true);
      expect(listensOn(child.pid!, other)).toBe(false);
      expect(listenerOf(other)).toMatch(new RegExp(`^pid ${process.pid} `));
      await close(srv);
    } finally {
      child.kill();
    }
  });

  it('a port taken between its check and nats-server binding it: PortTakenError on a port asked for, another port when picked', async () => {
    const bin = lateNatsServer(dir);
    const impostors: Server[] = [];
    try {
      // asked for: the other process answers there, so the server must not be taken for started
      const asked = await freeTcpPort();
      const starting = startDevNats({ dir: join(dir, 'asked'), port: asked, bin });
      await spawnedIn(join(dir, 'asked')); // past the check, before nats-server binds
      const first = await impostor(asked);
      impostors.push(first);
      const outcome = await starting.then(
        async (nats) => (await nats.stop(), 'started'),
        (err: unknown) => err,
      );
      expect(outcome).toBeInstanceOf(PortTakenError);
      expect(first.accepted).toBeGreaterThan(0); // it answered: without the check this start would have "succeeded"

      // picked: the same race, then a new port, held by nats-server itself, which serves a client
      const taken = await freeTcpPort();
      const picks = [taken];
      const pickedStart = startDevNats({ dir: join(dir, 'picked'), bin, pickPort: async () => picks.shift() ?? freeTcpPort() });
      await spawnedIn(join(dir, 'picked'));
      const second = await impostor(taken);
      impostors.push(second);
      const nats = await pickedStart;
      try {
        expect(second.accepted).toBeGreaterThan(0);
        expect(nats.port).not.toBe(taken);
        expect(nats.state.port).toBe(nats.port);
        expect(nats.url).toBe(`nats://127.0.0.1:${nats.port}`);
        expect(listensOn(nats.child.pid!, nats.port)).toBe(true);
        await serves(nats.url, await nats.identity('tasks'));
      } finally {
        await nats.stop();
      }
    } finally {
      await Promise.all(impostors.map(close));
    }
  }, 30_000);

  it('a port held already is refused at once, before nats-server is started', async () => {
    const port = await freeTcpPort();
    const srv = await impostor(port);
    try {
      await expect(startDevNats({ dir, port })).rejects.toThrow(PortTakenError);
    } finally {
      await close(srv);
    }
  });

  it('a cluster whose picked port was taken before its node bound it starts again on new ports, each node on its own', async () => {
    const bin = lateNatsServer(dir);
    const taken = await freeTcpPort();
    const picks = [taken]; // the first node's client port
    const starting = startNatsCluster({ dir, size: 3, bin, pickPort: async () => picks.shift() ?? freeTcpPort() });
    await spawnedIn(join(dir, 'n1'));
    const other = await impostor(taken);
    try {
      const cluster = await starting;
      try {
        expect(other.accepted).toBeGreaterThan(0);
        expect(cluster.nodes.map((n) => n.port)).not.toContain(taken);
        for (const n of cluster.nodes) {
          expect(listensOn(n.child!.pid!, n.port)).toBe(true);
          expect(listensOn(n.child!.pid!, n.clusterPort)).toBe(true);
        }
        await serves(cluster.servers, cluster.identity('tasks'));
      } finally {
        await cluster.stop();
      }
    } finally {
      await close(other);
    }
  }, 60_000);
});
