// What the activities are built from. Only worker.ts builds real providers; tests pass real
// clients pointed at the local emulators.
import type { Client } from '@temporalio/client';
import type { Freeze } from '../src/domain/release';
import type { AllowedConfig } from '../src/domain/spec-check';
import type { DatabaseProvider } from '../src/providers/database';
import type { Compute, DrInspector, DrOperator, MetricsProvider, Notifier, SmokeTester, TrafficRouterFactory } from '../src/providers/types';
import type { WaitingRelease } from '../workflows/messages';

/** Finds the releases waiting for an environment's train (default: Temporal's visibility). */
export type ReleaseFinder = (environment: string) => Promise<WaitingRelease[]>;

export interface ActivityDeps {
  compute: Compute;
  routerFor: TrafficRouterFactory;
  metrics: MetricsProvider;
  smoke: SmokeTester;
  notifier: Notifier;
  /** Backups, restores and drills (PostgreSQL and RDS); absent on a worker that serves no database. */
  databases?: DatabaseProvider;
  /** Reads disaster-recovery posture for readiness; absent on a worker that checks none. */
  dr?: DrInspector;
  /** The writes of a failover, failback or drill; absent on a worker that runs none. */
  drOps?: DrOperator;
  /** How often waitForStable and the traffic sync wait poll AWS; real AWS: a few seconds. */
  stablePollMs?: number;
  /** For the release train, freezes and tail takeover: Updates, signals and queries to other runs. */
  temporal?: Client;
  /**
   * How the train finds waiting releases. Default: a visibility query through `temporal`
   * (Temporal's time-skipping test server has no visibility listing, so its tests pass their own).
   */
  findWaitingReleases?: ReleaseFinder;
  /** The ids of the running releases (default: a visibility query through `temporal`). */
  runningReleases?: () => Promise<string[]>;
  /** The freezes in the worker's config (the API's freezes are added from the freeze registry). */
  freezes?: Freeze[];
  /**
   * What this worker may act on: its own config (services, DR postures, databases). Anyone who
   * can reach Temporal can hand a workflow any spec, so an activity compares the cluster, router,
   * image, database... it is given with this before any AWS call and refuses what differs
   * (src/domain/spec-check.ts). Absent: nothing is checked (tests that build activities by hand).
   */
  allowed?: AllowedConfig;
  /** Bases of the links in Slack messages: the Temporal UI (and namespace) and the API. */
  links?: { temporalUiUrl?: string; apiUrl?: string; namespace: string };
}
