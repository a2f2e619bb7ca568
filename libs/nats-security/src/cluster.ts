import type { ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freeTcpPort, spawnNatsServer, stopNatsServer } from './dev-server.js';
import { PortTakenError, startOnFreePorts } from './ports.js';
import { ensureIdentity, type NatsIdentity } from './identity.js';
import { SERVICE_IDENTITIES } from './permissions.js';
import { renderServerConfig } from './server-config.js';

export interface ClusterNode {
  name: string;
  port: number;
  clusterPort: number;
  url: string;
  configFile: string;
  child?: ChildProcess;
  running(): boolean;
  /** Stops the node (SIGTERM: it leaves the cluster cleanly); its JetStream store stays for the restart. */
  stop(): Promise<void>;
  /** SIGKILL: the node dies mid-flight. */
  kill(): void;
  start(): Promise<void>;
}

export interface NatsCluster {
  nodes: ClusterNode[];
  /** Every node's URL, comma-separated (NATS_URL of every process). */
  servers: string;
  identity(name: string): NatsIdentity;
  /** NATS_URL (all nodes), the identity's seed file and inbox prefix. */
  env(name: string): Record<string, string>;
  stop(): Promise<void>;
}

/**
 * A NATS cluster of `size` nodes on loopback (DESIGN §13), each with JetStream and the project's secured config
 * (the same permission table and identities as a single server) plus cluster routes to the others.
 */
export async function startNatsCluster(opts: {
  dir: string;
  size?: number;
  callers?: string[];
  clusterName?: string;
  /** The nats-server binary (natsServerBin's choice when absent). */
  bin?: string;
  /** How each free port is picked (freeTcpPort); a test hands one that is taken. */
  pickPort?: () => Promise<number>;
}): Promise<NatsCluster> {
  const size = opts.size ?? 3;
  mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  const identitiesDir = join(opts.dir, 'identities');
  const identities = [...SERVICE_IDENTITIES, ...(opts.callers ?? [])].map((n) => ensureIdentity(identitiesDir, n));
  const clusterName = opts.clusterName ?? 'agentplane';
  /** The nodes on these ports: each node's client port, then its cluster port. */
  const nodesOn = (ports: number[]): ClusterNode[] =>
    Array.from({ length: size }, (_, i) => {
      const name = `n${i + 1}`;
      const port = ports[i * 2];
      const clusterPort = ports[i * 2 + 1];
      const nodeDir = join(opts.dir, name);
      mkdirSync(nodeDir, { recursive: true });
      const configFile = join(nodeDir, 'nats.conf');
      const routes = Array.from({ length: size }, (_, j) => j)
        .filter((j) => j !== i)
        .map((j) => `nats-route://127.0.0.1:${ports[j * 2 + 1]}`);
      writeFileSync(
        configFile,
        renderServerConfig({ port, serverName: name, storeDir: join(nodeDir, 'jetstream'), identities, logFile: join(nodeDir, 'nats.log'), cluster: { name: clusterName, port: clusterPort, routes } }),
        { mode: 0o600 },
      );
      const node: ClusterNode = {
        name,
        port,
        clusterPort,
        url: `nats://127.0.0.1:${port}`,
        configFile,
        running: () => !!node.child && node.child.exitCode === null && node.child.signalCode === null,
        stop: async () => {
          if (node.child) await stopNatsServer(node.child);
        },
        kill: () => node.child?.kill('SIGKILL'),
        start: async () => {
          node.child = await spawnNatsServer({ configFile, port, bin: opts.bin, logFile: join(nodeDir, 'nats.log') });
        },
      };
      return node;
    });
  // A picked port that another process took before its node bound it: the whole cluster again on new ports (each
  // node's routes name the others' ports), 3 tries. A node's later restarts keep its ports.
  const nodes = await startOnFreePorts(async () => {
    const tried = nodesOn(await Promise.all(Array.from({ length: size * 2 }, () => (opts.pickPort ?? freeTcpPort)())));
    const started = await Promise.allSettled(tried.map((n) => n.start()));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (!failed) return tried;
    await Promise.all(tried.map((n) => n.stop()));
    // a start again on new ports must not find the old ports' peers in JetStream's state
    if (failed.reason instanceof PortTakenError) for (const n of tried) rmSync(join(opts.dir, n.name, 'jetstream'), { recursive: true, force: true });
    throw failed.reason;
  });
  const servers = nodes.map((n) => n.url).join(',');
  const identity = (name: string) => ensureIdentity(identitiesDir, name);
  return {
    nodes,
    servers,
    identity,
    env: (name) => {
      const id = identity(name);
      return { NATS_URL: servers, NATS_NKEY_SEED_FILE: id.seedFile, NATS_INBOX_PREFIX: id.inboxPrefix };
    },
    stop: async () => {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}
