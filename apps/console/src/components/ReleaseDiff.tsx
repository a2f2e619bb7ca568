import type { paths } from '../api/schema.js';

export type Release = paths['/v1/hooks/{name}/releases']['get']['responses']['200']['content']['application/json']['items'][number];

const FIELDS = [
  ['digest', (r: Release) => r.digest],
  ['image', (r: Release) => r.image],
  ['config', (r: Release) => JSON.stringify(r.config ?? {}, null, 0)],
  ['sourceRef', (r: Release) => r.sourceRef ?? '—'],
] as const;

/** What moving the live pointer from `current` to `target` changes: digest, image, config and source. */
export function ReleaseDiff({ current, target }: { current: Release | undefined; target: Release }) {
  return (
    <table className="diff" aria-label="What changes">
      <thead>
        <tr>
          <th scope="col">field</th>
          <th scope="col">current {current ? `v${current.version}` : '(none)'}</th>
          <th scope="col">target v{target.version}</th>
        </tr>
      </thead>
      <tbody>
        {FIELDS.map(([name, get]) => {
          const from = current ? get(current) : '—';
          const to = get(target);
          const changed = from !== to;
          return (
            <tr key={name} className={changed ? 'changed' : 'same'} data-field={name} data-changed={changed}>
              <th scope="row">
                {name} {changed ? <span className="badge badge-changed">changed</span> : <span className="muted">same</span>}
              </th>
              <td>
                <code>{from}</code>
              </td>
              <td>
                <code>{to}</code>
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
