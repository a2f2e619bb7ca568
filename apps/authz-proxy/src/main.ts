import 'reflect-metadata';
import { runMain, startService } from '@agentplane/messaging';
import { loadConfig, SERVICE } from './config.js';
import { AppModule } from './app.module.js';

runMain(SERVICE, async () => {
  const config = loadConfig();
  await startService(AppModule.forRoot(config), { service: SERVICE, http: config.http, nats: { ...config.nats, name: SERVICE } });
});
