import { READ_ALL_CAP } from '../api/pages.js';

/** Said under a list read with readAll when more exist than it reads. */
export function Truncated({ truncated, what }: { truncated: boolean; what: string }) {
  if (!truncated) return null;
  return (
    <p role="note" className="muted">
      Showing the first {READ_ALL_CAP.toLocaleString()} {what}; more exist. Use the API&apos;s pages (<code>cursor</code>) for the rest.
    </p>
  );
}
