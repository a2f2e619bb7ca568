import { z } from 'zod';

/** One request/reply subject with the schemas both sides parse with. */
export interface RpcContract<Req extends z.ZodType = z.ZodType, Res extends z.ZodType = z.ZodType> {
  readonly subject: string;
  readonly request: Req;
  readonly reply: Res;
  /** Mutating calls accept an idempotency key. */
  readonly mutating: boolean;
}

export function rpc<Req extends z.ZodType, Res extends z.ZodType>(
  subject: string,
  request: Req,
  reply: Res,
  opts: { mutating?: boolean } = {},
): RpcContract<Req, Res> {
  return { subject, request, reply, mutating: opts.mutating ?? false };
}

export type RequestOf<C extends RpcContract> = z.infer<C['request']>;
export type ReplyOf<C extends RpcContract> = z.infer<C['reply']>;

/** An event published on JetStream (`events.<service>.<type>`). */
export interface EventContract<P extends z.ZodType = z.ZodType> {
  readonly subject: string;
  readonly payload: P;
}

export function event<P extends z.ZodType>(subject: string, payload: P): EventContract<P> {
  return { subject, payload };
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A short human-facing name: trimmed, 1–200 chars, no control characters. */
export const Name = z
  .string()
  .min(1)
  .max(200)
  .refine((s) => !CONTROL.test(s), { message: 'must not contain control characters' })
  .refine((s) => s.trim() === s, { message: 'must not start or end with white space' });

export const Uuid = z.uuid();
export const Timestamp = z.string().describe('ISO 8601 timestamp');
export const JsonObject = z.record(z.string(), z.unknown());

export const Limit = z.coerce.number().int().min(1).max(500).default(50);
export const Cursor = z.string().min(1).max(512).optional();

export function page<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable() });
}

export const Empty = z.object({}).strict();
export const NoContent = z.null();
