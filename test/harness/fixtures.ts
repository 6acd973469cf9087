// Shared test data: the production train of the runbooks (Tuesdays 10:00 America/Los_Angeles).
import type { TrainSpec } from '../../src/domain/release';

export const PROD_TRAIN: TrainSpec = {
  environment: 'prod',
  days: ['TUE'],
  hour: 10,
  minute: 0,
  timeZone: 'America/Los_Angeles',
  windowSeconds: 4 * 3600,
  concurrency: 2,
  order: ['api', 'web'],
  catchupWindowSeconds: 3600,
};
