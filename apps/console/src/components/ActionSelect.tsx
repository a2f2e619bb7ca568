/** The actions of DESIGN §3, as authz's routes take them. */
export const ACTIONS = ['read', 'write', 'delete', 'cancel', 'execute', 'admin'] as const;
export type Action = (typeof ACTIONS)[number];

/** A labelled choice of one action (the explain and grant forms). */
export function ActionSelect({ name, value, onChange }: { name: string; value: Action; onChange: (a: Action) => void }) {
  return (
    <label>
      Action
      <select name={name} value={value} onChange={(e) => onChange(e.target.value as Action)}>
        {ACTIONS.map((a) => (
          <option key={a} value={a}>
            {a}
          </option>
        ))}
      </select>
    </label>
  );
}
