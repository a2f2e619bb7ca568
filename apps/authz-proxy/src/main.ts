import 'reflect-metadata';
import { ConfigError } from '@agentplane/observability';
import { startService } from '@agentplane/messaging';
import { loadConfig, SERVICE } from './config.js';
import { AppModule } from './app.module.js';

async function main(): Promise<void> {
  const config = loadConfig();
  await startService(AppModule.forRoot(config), { service: SERVICE, http: config.http, nats: { ...config.nats, name: SERVICE } });
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? `${SERVICE}: ${err.message}` : err);
  process.exit(1);
});
