import { randomBytes } from 'node:crypto';
import { connect, headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';

export const NATS_URL = 'nats://127.0.0.1:4222';

/** Every prefix handed out in this test file; their JetStream streams are deleted when the file ends. */
export const usedPrefixes = new Set<string>();

/** A subject prefix unique to this test file, so files run in parallel on one NATS server. */
export function testPrefix(label = 't'): string {
  const prefix = `${label.replace(/[^A-Za-z0-9_-]/g, '_')}_${randomBytes(4).toString('hex')}.`;
  usedPrefixes.add(prefix);
  return prefix;
}

export interface RawReply {
  body: { ok: boolean; data?: unknown; error?: { code: string; message: string; details?: unknown; errorId?: string } };
  headers: Record<string, string>;
}

/**
 * A backend calling a service directly over NATS, as any language would: plain JSON body, headers for the token,
 * idempotency key and request id. No Agentplane client code involved.
 */
export class NatsCaller {
  private constructor(
    readonly nc: NatsConnection,
    readonly prefix: string,
  ) {}

  static async connect(prefix: string): Promise<NatsCaller> {
    return new NatsCaller(await connect({ servers: NATS_URL, name: 'test-caller' }), prefix);
  }

  async request(subject: string, body: unknown, opts: { token?: string; idempotencyKey?: string; raw?: string; timeoutMs?: number } = {}): Promise<RawReply> {
    const h = natsHeaders();
    if (opts.token) h.set('authorization', `Bearer ${opts.token}`);
    if (opts.idempotencyKey) h.set('idempotency-key', opts.idempotencyKey);
    const msg = await this.nc.request(`${this.prefix}${subject}`, opts.raw ?? JSON.stringify(body), { headers: h, timeout: opts.timeoutMs ?? 5000 });
    const headers: Record<string, string> = {};
    if (msg.headers) for (const [k, v] of msg.headers) headers[k.toLowerCase()] = v.join(',');
    return { body: msg.json(), headers };
  }

  async close(): Promise<void> {
    await this.nc.drain();
  }
}
