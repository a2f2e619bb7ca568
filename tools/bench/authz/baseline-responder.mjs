#!/usr/bin/env node
// The baseline of the authz benchmark: a tiny raw NATS responder answering "is this subject the owner of this
// resource?" with one indexed SELECT (primary-key lookup) on a prepared statement — the cheapest membership check
// over the same NATS path (same request, headers and envelope), with no framework and no token verification.
import { connect } from '@nats-io/transport-node';
import pg from 'pg';

const { NATS_URL, SUBJECT, DATABASE_URL, POOL_MAX } = process.env;
const pool = new pg.Pool({ connectionString: DATABASE_URL, max: Number(POOL_MAX ?? 10) });
const nc = await connect({ servers: NATS_URL, name: 'authz-bench-baseline' });
const SQL = "SELECT EXISTS (SELECT 1 FROM tuples WHERE resource = $1 AND relation = 'owner' AND subject = $2) AS allowed";

nc.subscribe(SUBJECT, {
  queue: 'authz-bench-baseline',
  callback: (err, msg) => {
    if (err) return;
    let body;
    try {
      body = msg.json();
    } catch {
      msg.respond(JSON.stringify({ ok: false, error: { code: 'VALIDATION', message: 'invalid JSON' } }));
      return;
    }
    pool
      .query({ name: 'member', text: SQL, values: [body.resource, body.subject] })
      .then(({ rows }) => msg.respond(JSON.stringify({ ok: true, data: { allowed: rows[0].allowed, reason: 'member' } })))
      .catch(() => msg.respond(JSON.stringify({ ok: false, error: { code: 'INTERNAL', message: 'internal error' } })));
  },
});
await nc.flush();
process.send?.('ready');
process.on('SIGTERM', async () => {
  await nc.drain();
  await pool.end();
  process.exit(0);
});
