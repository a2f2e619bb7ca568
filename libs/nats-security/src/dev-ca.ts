import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface DevCa {
  /** The CA certificate clients trust (NATS_TLS_CA). */
  ca: string;
  /** The server's certificate and key (SAN 127.0.0.1, ::1, localhost). */
  serverCert: string;
  serverKey: string;
  /** A client certificate and key signed by the same CA (NATS_TLS_CERT / NATS_TLS_KEY) for servers that verify clients. */
  clientCert: string;
  clientKey: string;
}

const openssl = (args: string[], cwd: string) => execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });

/**
 * A development certificate authority for NATS over TLS (never for production): made once with the machine's openssl
 * into `dir` and reused. ECDSA P-256 keys, certificates valid for 30 days.
 */
export function ensureDevCa(dir: string): DevCa {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const f = (name: string) => join(dir, name);
  const out: DevCa = { ca: f('ca.pem'), serverCert: f('server.pem'), serverKey: f('server-key.pem'), clientCert: f('client.pem'), clientKey: f('client-key.pem') };
  if (Object.values(out).every((p) => existsSync(p))) return out;
  const key = (name: string) => openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', name], dir);
  key('ca-key.pem');
  openssl(['req', '-x509', '-new', '-key', 'ca-key.pem', '-sha256', '-days', '30', '-subj', '/CN=agentplane development CA', '-out', 'ca.pem'], dir);
  const leaf = (name: string, cn: string, ext: string) => {
    key(`${name}-key.pem`);
    openssl(['req', '-new', '-key', `${name}-key.pem`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`], dir);
    writeFileSync(f(`${name}.ext`), ext);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-days', '30', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.pem`], dir);
  };
  leaf('server', 'localhost', 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  leaf('client', 'agentplane-client', 'extendedKeyUsage=clientAuth\n');
  return out;
}
