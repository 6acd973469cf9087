// Runs as Slack sees them: a stand-in for Slack's Web API records every call. A run posts one
// parent message and keeps updating it (also across a worker crash), with its events as
// thread replies; a release's gate gets an approval request whose button (clicked through
// Baton's signed endpoint) approves, and which then shows the decision instead; and
// Slack answering 500 or 429 for a whole run changes nothing about the run itself.
// Real Temporal dev server, real workers, moto with CloudWatch fed by the sandbox feeder.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Worker } from '@temporalio/worker';
import { WorkflowFailedError } from '@temporalio/client';
import { workflowBundle } from '../../src/temporal/bundle';
import { buildDeploymentSpec, startDeployment } from '../../src/temporal/deployments';
import { buildApp } from '../../src/api/app';
import { buildReleaseInput, cancelRelease, postCheck, startRelease } from '../../src/temporal/releases';
import { SLACK_ACTIONS } from '../../src/domain/notices';
import { deploymentStatusQuery, releaseStatusQuery } from '../../workflows/messages';
import { startFakeSlack, type FakeMessage, type FakeSlack } from '../harness/fake-slack';
import { historyFacts, firstScheduled } from '../harness/history';
import { interactionBody, slackHeaders } from '../harness/slack-signing';
import { startStack, TEST_SLACK_TOKEN, type Stack } from '../harness/stack';
import { until } from '../harness/wait';

const CHANNEL = 'C0RELEASES';
const SECRET = 'signing-secret-for-tests';

interface ButtonElement {
  action_id: string;
  value: string;
}

/** The buttons of a message's actions blocks, as Slack would show them. */
function buttons(m: FakeMessage): ButtonElement[] {
  const blocks = (m.blocks ?? []) as Array<{ type: string; elements?: ButtonElement[] }>;
  return blocks.filter((b) => b.type === 'actions').flatMap((b) => b.elements ?? []);
}

describe('Slack messages of deployments and releases', () => {
  let slack: FakeSlack;
  let stack: Stack;

  beforeAll(async () => {
    slack = await startFakeSlack();
    stack = await startStack({
      worker: false,
      feeder: true,
      slack: { apiUrl: slack.apiUrl, channel: CHANNEL, updateEvery: '1s' },
      plan: {
        steps: [{ shift: 50 }, { soak: '12s' }, { shift: 100 }],
        analysis: { interval: '2s', window: '3s', failureLimit: 2, inconclusiveLimit: 6 },
        keepPreviousFor: '1s',
        standbyFor: '1s',
        stableTimeout: '1m',
      },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await slack?.stop();
  });

  beforeEach(() => slack.setMode({ kind: 'ok' }));

  const parentOf = (runId: string): FakeMessage[] =>
    [...slack.messages.values()].filter((m) => m.threadTs === null && (m.metadata as { event_payload?: { id?: string } } | null)?.event_payload?.id?.startsWith(`${runId}#`));
  const repliesTo = (ts: string): FakeMessage[] => [...slack.messages.values()].filter((m) => m.threadTs === ts);

  it('posts one message per deployment and updates it to the outcome, across a worker crash', async () => {
    const crashing = await stack.spawnWorker();
    const spec = buildDeploymentSpec(stack.config, { service: 'web', environment: 'prod', version: '3.0.0', requestedBy: 'ada' });
    const { id } = await startDeployment(stack.client, stack.taskQueue, spec);
    const handle = stack.client.workflow.getHandle(id);

    await until('the soak to be under way, with its message posted', () => handle.query(deploymentStatusQuery), (s) => s.phase === 'soaking' && parentOf(id).length === 1);
    const [parent] = parentOf(id);
    await until('the soak countdown to reach the message', async () => JSON.stringify(parent.blocks), (blocks) => /Soak at 50 %: \d+s left of 12s/.test(blocks));
    process.kill(-(crashing.child.pid as number), 'SIGKILL');
    await crashing.stop();
    const crashedAt = Date.now();
    await stack.startWorker();

    await handle.result();
    const status = await handle.query(deploymentStatusQuery);
    expect(status.outcome).toBe('succeeded');

    // Created once; every update, before and after the crash, went to the same message.
    expect(parentOf(id)).toHaveLength(1);
    const updates = slack.accepted('chat.update').filter((c) => c.args.ts === parent.ts);
    expect(updates.filter((c) => c.at > crashedAt).length).toBeGreaterThan(0);
    expect(slack.calls.filter((c) => c.method === 'chat.update' && !c.ok)).toEqual([]);
    expect(parent.text).toMatch(/succeeded/i);
    // Coalesced: fewer updates than things that happened.
    expect(updates.length).toBeLessThan(status.timeline.length);

    const replies = repliesTo(parent.ts).map((m) => m.text);
    expect(replies[0]).toMatch(/Started by ada/);
    expect(replies.some((t) => /Step 1\/3: 50 % of traffic on green/.test(t))).toBe(true);
    expect(replies.some((t) => /Step 3\/3: 100 % of traffic on green/.test(t))).toBe(true);
    expect(replies[replies.length - 1]).toMatch(/Succeeded/);

    // The history written across both workers replays on the same code.
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, await handle.fetchHistory(), id);
  });

  it('completes a deployment while Slack answers 500 to every call', async () => {
    await stack.startWorker();
    slack.setMode({ kind: 'http-error', status: 500 });
    const before = slack.calls.length;
    const spec = buildDeploymentSpec(stack.config, { service: 'api', environment: 'prod', version: '3.0.0', requestedBy: 'ada' });
    const { id } = await startDeployment(stack.client, stack.taskQueue, spec);
    await stack.client.workflow.getHandle(id).result();

    expect((await stack.client.workflow.getHandle(id).query(deploymentStatusQuery)).outcome).toBe('succeeded');
    const tried = slack.calls.slice(before);
    expect(tried.length).toBeGreaterThan(0);
    expect(tried.every((c) => c.status === 500)).toBe(true);
    expect(parentOf(id)).toHaveLength(0);
  });

  it('rolls back on a breach as fast while Slack rate-limits every call, waiting as long as Slack asks', async () => {
    await stack.startWorker();
    slack.setMode({ kind: 'rate-limited', retryAfterSeconds: 2 });
    stack.faults.set({ service: 'web', environment: 'staging', colour: 'green', errorRate: 0.2 });
    const before = slack.calls.length;
    try {
      const spec = buildDeploymentSpec(stack.config, { service: 'web', environment: 'staging', version: '3.0.0', requestedBy: 'ada' });
      const { id } = await startDeployment(stack.client, stack.taskQueue, spec);
      const handle = stack.client.workflow.getHandle(id);
      await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
      const status = await handle.query(deploymentStatusQuery);
      expect(status.outcome).toBe('rolled_back');

      // Two failing samples 2 s apart decide the rollback; Slack's answers delay nothing.
      const facts = await historyFacts(handle);
      const shifted = firstScheduled(facts, 'Shift 50 % to green').at;
      const rolledBack = firstScheduled(facts, 'Roll back: 100 % to blue').at;
      expect((rolledBack - shifted) / 1000).toBeLessThan(12);

      // Retry-After honoured: while the run went on, no call came sooner than Slack asked.
      const endedAt = Date.parse(status.endedAt as string);
      const during = slack.calls.slice(before).filter((c) => c.at < endedAt);
      expect(during.length).toBeGreaterThan(1);
      expect(during.every((c) => c.status === 429)).toBe(true);
      for (let i = 1; i < during.length; i++) expect(during[i].at - during[i - 1].at).toBeGreaterThanOrEqual(1900);
    } finally {
      stack.faults.clear({ service: 'web', environment: 'staging', colour: 'green' });
    }
  });

  it("keeps a gate's approval request current: its button approves, and the decision replaces the buttons", async () => {
    await stack.startWorker();
    const input = buildReleaseInput(stack.config, { service: 'web', version: '3.1.0', requestedBy: 'rosa' });
    const { id } = await startRelease(stack.client, stack.taskQueue, input);
    const handle = stack.client.workflow.getHandle(id);

    const hasButtons = (m: FakeMessage) => JSON.stringify(m.blocks ?? []).includes(SLACK_ACTIONS.approve);
    const request = await until(
      'the staging approval request in the release thread',
      async () => {
        const [parent] = parentOf(id);
        return parent ? repliesTo(parent.ts).find(hasButtons) : undefined;
      },
      (m) => m !== undefined,
      120_000,
    );
    expect(request?.text).toMatch(/staging/);

    await postCheck(stack.client, id, { name: 'ci', status: 'passed', by: 'ci' });
    // quinn (qa) clicks Approve on the message the release posted, through Baton's endpoint.
    const approve = buttons(request as FakeMessage).find((b) => b.action_id === SLACK_ACTIONS.approve);
    const app = await buildApp({ client: stack.client, config: stack.config, slack: { signingSecret: SECRET, botToken: TEST_SLACK_TOKEN, apiUrl: slack.apiUrl } });
    try {
      const body = interactionBody({
        type: 'block_actions',
        user: { id: 'U0QUINN' },
        trigger_id: 'T1',
        channel: { id: CHANNEL },
        container: { channel_id: CHANNEL, message_ts: request?.ts, thread_ts: request?.threadTs },
        actions: [{ action_id: approve?.action_id, value: approve?.value, action_ts: '1700000100.000001' }],
      });
      const answer = await app.inject({ method: 'POST', url: '/slack/interactions', headers: slackHeaders(SECRET, body), payload: body });
      expect(answer.statusCode).toBe(200);
      const decided = await until('the request to show the approval', async () => slack.messages.get(request?.ts as string), (m) => m !== undefined && !hasButtons(m));
      expect(JSON.stringify(decided?.blocks)).toMatch(/Approved by quinn — 1 of 1/);
    } finally {
      await app.close();
    }
    expect(slack.accepted('chat.postEphemeral')).toEqual([]);

    await cancelRelease(stack.client, id, { reason: 'test over', by: 'rosa' });
    await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
    expect((await handle.query(releaseStatusQuery)).outcome).toBe('cancelled');
    const [parent] = parentOf(id);
    expect(parentOf(id)).toHaveLength(1);
    expect(parent.text).toMatch(/cancelled/i);
    const replies = repliesTo(parent.ts).map((m) => m.text);
    expect(replies.some((t) => /quinn \(qa\) approved staging/.test(t))).toBe(true);
  });
});
