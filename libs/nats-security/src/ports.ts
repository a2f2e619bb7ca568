import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/**
 * Whether process `pid` holds a socket listening on TCP `port` (Linux: its fds' socket inodes against
 * /proc/net/tcp{,6}); undefined where /proc cannot tell.
 */
export function listensOn(pid: number, port: number): boolean | undefined {
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
      if (state === '0A' && parseInt(local.split(':')[1] ?? '', 16) === port && inodes.has(inode)) return true; // 0A: LISTEN
    }
  }
  return read ? false : undefined;
}

/** A server (an app, nats-server) that could not have the port it was given: another process listens there, or took it first. */
export class PortTakenError extends Error {}
