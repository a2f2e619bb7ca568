import 'reflect-metadata';
import { SwaggerModule } from '@nestjs/swagger';
import { ConfigError } from '@agentplane/observability';
import { startService } from '@agentplane/messaging';
import { loadConfig, SERVICE } from './config.js';
import { AppModule } from './app.module.js';
import { OpenApiBuilder } from './http/openapi.js';

async function main(): Promise<void> {
  const config = loadConfig();
  await startService(AppModule.forRoot(config), {
    service: SERVICE,
    http: config.http,
    beforeListen: (app) => {
      const document = app.get(OpenApiBuilder).build();
      SwaggerModule.setup('docs', app, document as never, { jsonDocumentUrl: 'docs-json' });
    },
  });
  console.log(`gateway listening on http://${config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host}:${config.http.port}`);
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? `${SERVICE}: ${err.message}` : err);
  process.exit(1);
});
