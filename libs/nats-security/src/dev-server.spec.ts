import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { freeTcpPort } from './dev-server.js';

const [ephemeralLow] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);

const listen = (port: number) =>
  new Promise<() => Promise<void>>((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve(() => new Promise((done) => srv.close(() => done()))));
  });

describe('freeTcpPort', () => {
  it('never hands one process the same port twice, as a caller that picks several before starting anything', async () => {
    // each free when picked, at random among some twelve thousand: 400 picks would share one nearly always (99.8 %)
    const ports: number[] = [];
    for (let i = 0; i < 400; i++) ports.push(await freeTcpPort());
    expect(new Set(ports).size).toBe(400);
  });

  it('picks ports below the range outgoing connections take their local port from, each one free to listen on', async () => {
    const ports = await Promise.all(Array.from({ length: 20 }, () => freeTcpPort()));
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(1024);
      expect(port).toBeLessThan(ephemeralLow!);
    }
    // … at random: twenty callers at once get (nearly always) twenty different ports
    expect(new Set(ports).size).toBeGreaterThan(15);
    for (const port of new Set(ports)) {
      const close = await listen(port);
      await close();
    }
  });
});
