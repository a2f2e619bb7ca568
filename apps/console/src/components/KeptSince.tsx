/**
 * An audit list's horizon: where the service forgets changes past its retention (`keptSince` of the page:
 * AUTHZ_GRANT_HISTORY_RETENTION_HOURS, PLUGIN_HISTORY_RETENTION_HOURS), the list says that what it shows begins there,
 * so an empty or short history does not read as "nothing ever changed". Nothing while every change is kept.
 */
export function KeptSince({ keptSince }: { keptSince: string | null | undefined }) {
  if (!keptSince) return null;
  return (
    <p className="muted" data-kept-since={keptSince}>
      Changes before <time dateTime={keptSince}>{new Date(keptSince).toLocaleString()}</time> are no longer kept.
    </p>
  );
}

/** An audit list with nothing to show: "`none` since the audit began", or, under a retention, "in the time kept". */
export function AuditEmpty({ none, keptSince }: { none: string; keptSince: string | null | undefined }) {
  return (
    <>
      <p className="muted">
        {none} {keptSince ? 'in the time kept' : 'since the audit began'}.
      </p>
      <KeptSince keptSince={keptSince} />
    </>
  );
}
