import { DomainError } from './errors.js';

/** 1–255 visible ASCII characters (0x21–0x7e): an `Idempotency-Key` (REST header, NATS header) as every door checks it. */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/** The key, or VALIDATION naming `header.idempotency-key`: the same answer from the gateway and from a service. */
export function assertIdempotencyKey(key: unknown): string {
  if (typeof key !== 'string' || !IDEMPOTENCY_KEY_PATTERN.test(key)) {
    throw new DomainError('VALIDATION', 'Idempotency-Key must be 1-255 printable ASCII characters', {
      issues: [{ path: 'header.idempotency-key', message: 'invalid' }],
    });
  }
  return key;
}
