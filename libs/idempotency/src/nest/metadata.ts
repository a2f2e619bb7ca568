/** Where `@Idempotent()` keeps its options on a handler (read by IdempotencyGuard). */
export const IDEMPOTENT_METADATA = 'agentplane:idempotent';
