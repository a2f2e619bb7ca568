import { SUBJECTS, subjectOf, tasksContract, authzContract, hooksContract, workspacesContract, CreateTaskRequest, ResourceRef, CompleteRequest, FailRequest, TASK_LIMITS } from './index.js';

describe('contracts', () => {
  it('implements every subject of SUBJECTS, and nothing else', () => {
    const implemented = [tasksContract, authzContract, hooksContract, workspacesContract].flatMap((c) => Object.values(c).map((r) => r.subject)).sort();
    const listed = Object.entries(SUBJECTS).flatMap(([svc, verbs]) => verbs.map((v) => subjectOf(svc as keyof typeof SUBJECTS, v))).sort();
    expect(implemented).toEqual(listed);
  });

  it('names every implemented subject <service>.v1.<verb> and lists it in SUBJECTS', () => {
    for (const c of Object.values(tasksContract)) {
      expect(c.subject).toMatch(/^tasks\.v1\.[a-z_]+$/);
      expect(SUBJECTS.tasks.map((v) => subjectOf('tasks', v))).toContain(c.subject);
    }
    for (const c of Object.values(authzContract)) {
      expect(SUBJECTS.authz.map((v) => subjectOf('authz', v))).toContain(c.subject);
    }
  });

  it('reports the failing field path', () => {
    const r = CreateTaskRequest.safeParse({ agentId: 'nope', name: 'x' });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path).toEqual(['agentId']);
  });

  it('rejects unknown fields and control characters', () => {
    expect(CreateTaskRequest.safeParse({ agentId: '5d0c0b3e-3b7a-4a3e-9d3a-9c1f1f6f0a11', name: 'a', extra: 1 }).success).toBe(false);
    expect(CreateTaskRequest.safeParse({ agentId: '5d0c0b3e-3b7a-4a3e-9d3a-9c1f1f6f0a11', name: 'a\u0000b' }).success).toBe(false);
    expect(ResourceRef.safeParse('task:abc').success).toBe(true);
    expect(ResourceRef.safeParse('task:a b').success).toBe(false);
  });

  it('bounds the worker protocol\'s fields (DESIGN §4.1) and names the field', () => {
    const agentId = '5d0c0b3e-3b7a-4a3e-9d3a-9c1f1f6f0a11';
    const pathOf = (r: { success: boolean; error?: { issues: Array<{ path: PropertyKey[] }> } }) => r.error?.issues[0]?.path.join('.');
    expect(pathOf(CreateTaskRequest.safeParse({ agentId, name: 'a', maxAttempts: 101 }))).toBe('maxAttempts');
    expect(pathOf(CreateTaskRequest.safeParse({ agentId, name: 'a', heartbeatTimeoutSeconds: 3601 }))).toBe('heartbeatTimeoutSeconds');
    expect(pathOf(CreateTaskRequest.safeParse({ agentId, name: 'a', timeoutSeconds: 0 }))).toBe('timeoutSeconds');
    expect(CreateTaskRequest.safeParse({ agentId, name: 'a', runAfter: '2026-12-01T10:00:00+02:00', retry: {} }).success).toBe(true);
    const ok = CreateTaskRequest.parse({ agentId, name: 'a', retry: { maximumIntervalMs: 5_000 } });
    expect(ok.retry).toEqual({ initialIntervalMs: 1_000, backoffCoefficient: 2, maximumIntervalMs: 5_000 });
    const token = agentId;
    // a JSON string of n characters is n + 2 bytes
    expect(CompleteRequest.safeParse({ id: agentId, leaseToken: token, result: 'x'.repeat(TASK_LIMITS.resultBytes - 2) }).success).toBe(true);
    expect(pathOf(CompleteRequest.safeParse({ id: agentId, leaseToken: token, result: 'x'.repeat(TASK_LIMITS.resultBytes - 1) }))).toBe('result');
    expect(FailRequest.parse({ id: agentId, leaseToken: token, error: { message: 'm' } }).error).toEqual({ message: 'm', retryable: true });
  });
});
