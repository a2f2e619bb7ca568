import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/** The inodes of the sockets process `pid` holds; undefined where /proc cannot tell (gone, not Linux). */
function socketInodes(pid: number): Set<string> | undefined {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return undefined;
  }
  const inodes = new Set<string>();
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1]) inodes.add(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

/** The inodes of the sockets listening on TCP `port` (/proc/net/tcp{,6}); undefined where /proc cannot tell. */
function listeningInodes(port: number): Set<string> | undefined {
  const inodes = new Set<string>();
  let read = false;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
      read = true;
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const [, local = '', , state, , , , , , inode = ''] = line.trim().split(/\s+/);
      if (state === '0A' && parseInt(local.split(':')[1] ?? '', 16) === port) inodes.add(inode); // 0A: LISTEN
    }
  }
  return read ? inodes : undefined;
}

/**
 * Whether process `pid` holds a socket listening on TCP `port` (Linux: its fds' socket inodes against
 * /proc/net/tcp{,6}); undefined where /proc cannot tell.
 */
export function listensOn(pid: number, port: number): boolean | undefined {
  const mine = socketInodes(pid);
  const listening = listeningInodes(port);
  if (!mine || !listening) return undefined;
  return [...listening].some((inode) => mine.has(inode));
}

/** Who listens on TCP `port`, as "pid N (its command line)", for an error's words; undefined when /proc cannot tell. */
export function listenerOf(port: number): string | undefined {
  const listening = listeningInodes(port);
  if (!listening?.size) return undefined;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    const inodes = socketInodes(Number(pid));
    if (!inodes || ![...listening].some((i) => inodes.has(i))) continue;
    let command = '';
    try {
      command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ').slice(0, 200);
    } catch {
      // gone meanwhile
    }
    return `pid ${pid} (${command})`;
  }
  return undefined;
}

/** A server (an app, nats-server) that could not have the port it was given: another process listens there, or took it first. */
export class PortTakenError extends Error {}

/**
 * Starts a server on ports picked free, and again on new ones when a picked port turns out taken (PortTakenError),
 * `tries` times in all (3 by default); a port asked for (`fixed`) is tried once. `start` picks its ports itself each
 * time and stops what it started before it throws.
 */
export async function startOnFreePorts<T>(start: () => Promise<T>, opts: { fixed?: boolean; tries?: number } = {}): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (!(err instanceof PortTakenError) || opts.fixed || attempt >= (opts.tries ?? 3)) throw err;
    }
  }
}
