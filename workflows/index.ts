// The workflow bundle's entry point: every workflow type the worker serves.
export { deployment } from './deployment';
export { deploymentLane } from './lane';
export { release } from './release';
export { releaseTrain } from './train';
export { freezeRegistry } from './freezes';
export { restore } from './restore';
export { databaseLedger } from './ledger';
export { databaseBackup, databaseInventory, restorePlanPreview } from './databases';
export { failoverReadiness } from './readiness';
export { readinessRegistry } from './readiness-registry';
export { failover } from './failover';
