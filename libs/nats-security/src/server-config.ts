import type { NatsIdentity } from './identity.js';
import { loadPermissionTable, permissionsOf, type PermissionTable } from './permissions.js';

export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

export interface ServerConfigOptions {
  host?: string;
  port: number;
  /** JetStream's store directory; JetStream is on in every config we render. */
  storeDir: string;
  serverName?: string;
  identities: NatsIdentity[];
  /** '' (production, a stack that owns its server) or '*.' (a test server shared by files with their own prefixes). */
  prefix?: string;
  /** Server certificate and the CA clients are checked against; with `verifyClients` clients must show a certificate too. */
  tls?: TlsFiles & { verifyClients?: boolean };
  /** Cluster routes (the chaos suite's three nodes). */
  cluster?: { name: string; port: number; routes: string[] };
  monitorPort?: number;
  /** Go's profiler on this port (`/debug/pprof/profile`): the CPU profile of nats-server itself (tools/bench/profile). */
  profPort?: number;
  logFile?: string;
  table?: PermissionTable;
}

const q = (s: string) => JSON.stringify(s);

/**
 * A nats-server configuration (2.9+) with one nkey user per identity and the committed permissions. There is no
 * `no_auth_user`, so an anonymous connection is refused; permission violations are logged by the server and
 * reported to the offending client, which our processes count (nats_permission_violations_total).
 */
export function renderServerConfig(opts: ServerConfigOptions): string {
  const table = opts.table ?? loadPermissionTable();
  const prefix = opts.prefix ?? '';
  const users = opts.identities.map((id) => {
    const p = permissionsOf(table, id.name, { prefix });
    return [
      `    # ${id.name}`,
      `    { nkey: ${q(id.publicKey)}, permissions: {`,
      `        publish: { allow: [${p.publish.map(q).join(', ')}] }`,
      `        subscribe: { allow: [${p.subscribe.map(q).join(', ')}] }`,
      ...(p.allow_responses ? ['        allow_responses: true'] : []),
      '    } }',
    ].join('\n');
  });
  const lines = [
    '# Rendered by libs/nats-security from docker/nats/permissions.json: do not edit, re-render.',
    `host: ${q(opts.host ?? '127.0.0.1')}`,
    `port: ${opts.port}`,
    ...(opts.serverName ? [`server_name: ${q(opts.serverName)}`] : []),
    ...(opts.monitorPort ? [`http_port: ${opts.monitorPort}`] : []),
    ...(opts.profPort ? [`prof_port: ${opts.profPort}`] : []),
    ...(opts.logFile ? [`log_file: ${q(opts.logFile)}`] : []),
    'max_payload: 1048576',
    `jetstream { store_dir: ${q(opts.storeDir)} }`,
    'authorization {',
    '  users: [',
    users.join('\n'),
    '  ]',
    '}',
  ];
  if (opts.tls) {
    lines.push(
      'tls {',
      `  cert_file: ${q(opts.tls.cert)}`,
      `  key_file: ${q(opts.tls.key)}`,
      `  ca_file: ${q(opts.tls.ca)}`,
      `  verify: ${opts.tls.verifyClients ? 'true' : 'false'}`,
      '  timeout: 5',
      '}',
    );
  }
  if (opts.cluster) {
    lines.push(
      'cluster {',
      `  name: ${q(opts.cluster.name)}`,
      `  host: ${q(opts.host ?? '127.0.0.1')}`,
      `  port: ${opts.cluster.port}`,
      `  routes: [${opts.cluster.routes.map(q).join(', ')}]`,
      '}',
    );
  }
  return `${lines.join('\n')}\n`;
}
