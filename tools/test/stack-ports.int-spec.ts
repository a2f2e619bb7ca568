import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listensOn, startDevNats } from '@agentplane/nats-security';
import { freePort, startStack } from '../src/stack.js';

/** An HTTP server on `port` in this process that answers 200 to everything: what a port taken by another stack's app looks like. */
function impostor(port: number): Promise<Server & { asked: number }> {
  const srv = Object.assign(
    createServer((_req, res) => {
      srv.asked++;
      res.end('{"status":"ok"}');
    }),
    { asked: 0 },
  );
  return new Promise((resolve) => srv.listen(port, '127.0.0.1', () => resolve(srv)));
}

describe('the stack starts each app on a port of its own (tools/src/stack.ts)', () => {
  it('moves an app whose picked port another process answers on, instead of taking that answer for the app', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stack-ports-'));
    const nats = await startDevNats({ dir });
    const taken = await freePort();
    const other = await impostor(taken);
    const picks = [taken];
    try {
      const stack = await startStack({
        only: ['gateway'],
        env: { AUTH_JWT_SECRET: 'stack-ports-secret-0123456789abcdef', LOG_LEVEL: 'warn' },
        serviceEnv: { gateway: await nats.env('gateway') },
        pickPort: async () => picks.shift() ?? freePort(),
      });
      try {
        const port = Number(new URL(stack.gatewayUrl).port);
        expect(other.asked).toBeGreaterThan(0); // the taken port was tried, and answered
        expect(port).not.toBe(taken);
        expect(listensOn(stack.apps.gateway!.child.pid!, port)).toBe(true);
        expect((await fetch(`${stack.gatewayUrl}/readyz`)).status).toBe(200);
      } finally {
        await stack.stop();
      }
    } finally {
      await new Promise((r) => other.close(r));
      await nats.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
