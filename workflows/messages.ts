// The messages Baton's workflows answer. Clients (API, CLI, Slack) import these definitions
// so names and payload types are shared with the workflows.
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { ActionRequest, DeploymentStatus } from '../src/domain/deployment';
import type { DeploymentSpec } from '../src/domain/types';

// ---------------------------------------------------------------- search attributes
export const BatonKind = defineSearchAttributeKey('BatonKind', SearchAttributeType.KEYWORD);
export const BatonService = defineSearchAttributeKey('BatonService', SearchAttributeType.KEYWORD);
export const BatonEnvironment = defineSearchAttributeKey('BatonEnvironment', SearchAttributeType.KEYWORD);
export const BatonVersion = defineSearchAttributeKey('BatonVersion', SearchAttributeType.KEYWORD);
export const BatonPhase = defineSearchAttributeKey('BatonPhase', SearchAttributeType.KEYWORD);
export const BatonOutcome = defineSearchAttributeKey('BatonOutcome', SearchAttributeType.KEYWORD);

// ---------------------------------------------------------------- deployment
/** Live status of a deployment (also of a finished one: queries work on closed workflows). */
export const deploymentStatusQuery = defineQuery<DeploymentStatus>('status');

/**
 * Operator action: pause, resume, promote, extend, rollback. The validator refuses an action
 * that is not valid now (ApplicationFailure type InvalidTransition) and nothing changes.
 * Returns the status right after the action was accepted.
 */
export const deploymentActionUpdate = defineUpdate<DeploymentStatus, [ActionRequest]>('action');

// ---------------------------------------------------------------- deployment lane
/**
 * The lane (`lane:<service>:<environment>`) is what makes "one deployment per service and
 * environment" race-free: it is started with a FAIL id-conflict policy, and it runs the
 * deployment as its child. `started` returns the child's id once the child is running.
 */
export const laneStartedUpdate = defineUpdate<{ deploymentId: string }>('started');
export const laneCurrentQuery = defineQuery<{ deploymentId: string }>('current');

export interface LaneInput {
  spec: DeploymentSpec;
}

