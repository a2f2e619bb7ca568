import { z } from 'zod';
import { ERROR_CODES, type ErrorBody } from '@agentplane/domain';

/** The reply body of every NATS request (DESIGN §8). */
export const ErrorBodySchema = z.object({
  code: z.enum(ERROR_CODES),
  message: z.string(),
  details: z.unknown().optional(),
  errorId: z.string().optional(),
});

export const EnvelopeSchema = z.union([
  z.object({ ok: z.literal(true), data: z.unknown() }),
  z.object({ ok: z.literal(false), error: ErrorBodySchema }),
]);

export type Envelope<T = unknown> = { ok: true; data: T } | { ok: false; error: ErrorBody };

/** The REST error body (DESIGN §11). */
export const HttpErrorSchema = z.object({ error: ErrorBodySchema });

/** NATS/HTTP header names shared by both transports. */
export const HEADERS = {
  authorization: 'authorization',
  idempotencyKey: 'idempotency-key',
  requestId: 'x-request-id',
  replayed: 'idempotent-replayed',
} as const;
