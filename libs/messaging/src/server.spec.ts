import { withinMaxPayload } from './server.js';

describe('a reply that cannot fit one NATS message', () => {
  const max = 1_048_576;

  it('is sent as it is while it fits, and becomes INTERNAL with an errorId (logged with its size) when it does not', () => {
    const logged: Array<{ obj: object; msg: string }> = [];
    const log = (obj: object, msg: string) => void logged.push({ obj, msg });
    const small = { data: JSON.stringify({ ok: true, data: { items: ['x'.repeat(300_000)] } }) };
    expect(withinMaxPayload(small, max, log, 'tasks.v1.list')).toBe(small);
    // 400,000 three-byte characters: under the limit in UTF-16 units, over it in bytes
    const wide = { data: JSON.stringify({ ok: true, data: { items: ['€'.repeat(400_000)] } }) };
    const answered = JSON.parse(withinMaxPayload(wide, max, log, 'tasks.v1.list').data) as { ok: boolean; error: { code: string; errorId: string } };
    expect(answered).toMatchObject({ ok: false, error: { code: 'INTERNAL' } });
    expect(logged).toHaveLength(1);
    expect(logged[0]!.obj).toMatchObject({ errorId: answered.error.errorId, subject: 'tasks.v1.list', maxPayload: max });
    expect((logged[0]!.obj as { bytes: number }).bytes).toBeGreaterThan(max);
    // no limit known (not connected): left alone
    expect(withinMaxPayload(wide, undefined, log, 's')).toBe(wide);
  });
});
