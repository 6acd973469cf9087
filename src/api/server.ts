// The API process: config → Temporal client → buildApp → listen. Closes cleanly on
// SIGINT/SIGTERM (in-flight requests finish, then the Temporal connection closes).
import { Client, Connection } from '@temporalio/client';
import { ConfigError, loadConfig, temporalConnectConfig } from '../config';
import { dataConverterOf } from '../temporal/codec';
import { createEcrRegistry } from '../providers/ecr';
import { buildApp } from './app';

async function main(): Promise<void> {
  const { config, runtime } = loadConfig();
  if (!runtime.decisionKey) {
    throw new ConfigError('BATON_DECISION_KEY is not set: the API signs every decision it sends a run with it (generate one with `openssl rand -hex 32`, keep it secret and stable)');
  }
  const temporal = temporalConnectConfig();
  const connection = await Connection.connect(temporal.connectionOptions);
  // With BATON_CODEC_KEYS, payloads are encrypted as the workers encrypt them, and /codec serves the Temporal UI.
  const client = new Client({ connection, namespace: temporal.namespace, dataConverter: dataConverterOf(runtime) });
  let app;
  try {
    app = await buildApp({ client, config, logger: { level: runtime.logLevel }, slack: runtime.slack, decisionKey: runtime.decisionKey, registry: createEcrRegistry({ endpoint: runtime.awsEndpoint }) });
    const url = await app.listen({ host: config.api.host, port: config.api.port });
    app.log.info(`api: listening on ${url} (Temporal ${temporal.address}, namespace ${temporal.namespace}); docs at ${url}/docs`);
  } catch (err) {
    await app?.close();
    await connection.close();
    throw err;
  }

  const running = app;
  let closing = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    running.log.info(`api: ${signal}, closing`);
    running
      .close()
      .then(() => connection.close())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          console.error('api: failed to close cleanly:', err);
          process.exit(1);
        },
      );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    if (err instanceof ConfigError) console.error(`api: ${err.message}`);
    else console.error('api: failed:', err);
    process.exit(1);
  });
}
