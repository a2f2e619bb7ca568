import { NonRetryableError, TasksCallError, heartbeatIntervalMs, toTaskError } from './agent-worker.js';

describe('AgentWorker helpers', () => {
  it('heartbeats at a fraction of the heartbeat timeout, never more often than every 500 ms', () => {
    expect(heartbeatIntervalMs({ heartbeatTimeoutSeconds: 60 })).toBe(20_000);
    expect(heartbeatIntervalMs({ heartbeatTimeoutSeconds: 60 }, 0.5)).toBe(30_000);
    expect(heartbeatIntervalMs({ heartbeatTimeoutSeconds: 5 }, 0.01)).toBe(500);
    // a fraction near 1 would let the lease lapse between beats: capped at 0.9
    expect(heartbeatIntervalMs({ heartbeatTimeoutSeconds: 10 }, 2)).toBe(9_000);
  });

  it('turns a thrown value into the fail call\'s error: retryable unless NonRetryableError', () => {
    expect(toTaskError(new TypeError('bad'))).toEqual({ message: 'bad', type: 'TypeError', retryable: true });
    expect(toTaskError(new NonRetryableError('no', { field: 'x' }))).toEqual({ message: 'no', type: 'NonRetryableError', retryable: false, details: { field: 'x' } });
    expect(toTaskError('plain')).toEqual({ message: 'plain', type: 'string', retryable: true });
  });

  it('recognises lease_lost answers', () => {
    expect(new TasksCallError('CONFLICT', 'x', { reason: 'lease_lost' }).leaseLost).toBe(true);
    expect(new TasksCallError('CONFLICT', 'x', { field: 'name' }).leaseLost).toBe(false);
  });
});
