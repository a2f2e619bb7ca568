/**
 * Prints a development token signed with the primary issuer's HS256 secret (DESIGN §11):
 *   npm run token -- --tenant T --sub U [--roles admin] [--service-account] [--scopes a,b] [--ttl 3600]
 * Without AUTH_JWT_SECRET it signs with DEV_JWT_SECRET, which only the local dev stack accepts.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DEV_JWT_SECRET, signDevToken } from '@agentplane/auth';

const USAGE = 'usage: npm run token -- --tenant T --sub U [--roles admin,…] [--service-account] [--scopes a,b] [--ttl seconds]';

const list = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);

export async function tokenFromArgs(argv: string[], env: Record<string, string | undefined>): Promise<string> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      tenant: { type: 'string' },
      sub: { type: 'string' },
      roles: { type: 'string' },
      'service-account': { type: 'boolean', default: false },
      scopes: { type: 'string' },
      ttl: { type: 'string', default: '3600' },
    },
  });
  if (!values.tenant || !values.sub) throw new Error('--tenant and --sub are required');
  const ttl = Number(values.ttl);
  if (!Number.isInteger(ttl) || ttl <= 0) throw new Error('--ttl must be a positive number of seconds');
  return signDevToken({
    secret: env['AUTH_JWT_SECRET'] || DEV_JWT_SECRET,
    issuer: env['AUTH_JWT_ISSUER'] || 'agentplane',
    audience: env['AUTH_JWT_AUDIENCE'] || 'agentplane',
    tenant: values.tenant,
    sub: values.sub,
    roles: list(values.roles),
    serviceAccount: values['service-account'],
    scopes: list(values.scopes),
    expiresIn: ttl,
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  tokenFromArgs(process.argv.slice(2), process.env).then(
    (token) => process.stdout.write(`${token}\n`),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
      process.exitCode = 2;
    },
  );
}
