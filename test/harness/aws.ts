// Helpers for tests that talk to moto: credentials and SDK clients built exactly as the
// providers build theirs, so a test reads and writes the same moto state the adapters see.
import { createAwsClients, type AwsClients } from '../../src/providers/aws';
import type { MotoServer } from '../../src/local/servers';

export type { MotoServer };

export const TEST_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' };

export function motoClients(moto: MotoServer): AwsClients {
  return createAwsClients({ endpoint: moto.endpoint, credentials: TEST_CREDENTIALS });
}
