import type { Deserializer, IncomingRequest, Serializer } from '@nestjs/microservices';
import { headers as natsHeaders, type Msg, type MsgHdrs } from '@nats-io/transport-node';
import { isErrorCode, type ErrorBody } from '@agentplane/domain';
import type { Envelope } from '@agentplane/contracts';
import { parseJsonPayload } from './json-body.js';

/** A handler result that also sets reply headers (e.g. `idempotent-replayed`). */
export class RpcReply<T = unknown> {
  constructor(
    readonly data: T,
    readonly headers: Record<string, string> = {},
  ) {}
}

let seq = 0;

/** Plain JSON in: the request body is the contract's request object (no Nest packet around it). */
export class JsonRequestDeserializer implements Deserializer<Msg, IncomingRequest> {
  deserialize(msg: Msg, options?: { channel?: string; replyTo?: string }): IncomingRequest {
    // an InvalidPayload when it is not UTF-8 JSON: the ZodPipe answers it as the HTTP body parser would
    const data = msg.data.length === 0 ? {} : parseJsonPayload(msg.data);
    // An id marks a request that expects a reply; events (no reply subject) get none.
    const id = options?.replyTo ? `${++seq}` : undefined;
    return { pattern: options?.channel ?? msg.subject, data, id } as IncomingRequest;
  }
}

interface OutgoingPacket {
  id?: string;
  response?: unknown;
  err?: unknown;
  isDisposed?: boolean;
  status?: string;
}

function toErrorBody(err: unknown): ErrorBody {
  if (err && typeof err === 'object' && isErrorCode((err as ErrorBody).code) && typeof (err as ErrorBody).message === 'string') {
    return err as ErrorBody;
  }
  if (typeof err === 'string' && err.startsWith('There is no matching')) return { code: 'NOT_FOUND', message: 'no handler for this subject' };
  return { code: 'INTERNAL', message: 'internal error' };
}

/** Plain JSON out: `{ok: true, data}` or `{ok: false, error}` (DESIGN §8), reply headers from an RpcReply. */
export class EnvelopeSerializer implements Serializer<OutgoingPacket, { data: string; headers?: MsgHdrs }> {
  serialize(packet: OutgoingPacket): { data: string; headers?: MsgHdrs } {
    if (packet.err !== undefined && packet.err !== null) {
      const envelope: Envelope = { ok: false, error: toErrorBody(packet.err) };
      return { data: JSON.stringify(envelope) };
    }
    let data = packet.response;
    let hdrs: MsgHdrs | undefined;
    if (data instanceof RpcReply) {
      if (Object.keys(data.headers).length) {
        hdrs = natsHeaders();
        for (const [k, v] of Object.entries(data.headers)) hdrs.set(k, v);
      }
      data = data.data;
    }
    const envelope: Envelope = { ok: true, data: data === undefined ? null : data };
    return { data: JSON.stringify(envelope), headers: hdrs };
  }
}
