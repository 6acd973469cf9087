// How much workflow history a run writes: Temporal keeps every event of a run (and by default
// ends a run at 51 200 events or 50 MB), a worker replays it all after a restart, and a run
// that continues as new starts afresh. Measured on the time-skipping server with real durations:
// a deployment on the production plan (1 %, 10 %, 50 %, 100 % with 5/10/15 min soaks, 1 h
// keep, 24 h standby), the same plan with 10× longer soaks, and a release whose prod gate
// waits a week of stability in staging. Slack is configured (a local fake of its Web API),
// so the message pump really posts; metrics come from the app-metrics stand-in.
// Events are counted per run and per deployment (across continue-as-new), by what caused them.
import { readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { configRegions } from '../src/config';
import { createSlackNotifier } from '../src/providers/slack';
import { createBatonWorker } from '../src/worker';
import { buildDeploymentSpec, startDeployment } from '../src/temporal/deployments';
import { releaseId, type GateSpec } from '../src/domain/release';
import type { RolloutPlan } from '../src/domain/types';
import type { ReleaseInput } from '../workflows/messages';
import { appMetrics, healthy } from '../test/harness/app-metrics';
import { startFakeSlack, type FakeSlack } from '../test/harness/fake-slack';
import { runIdsOf } from '../test/harness/history';
import { quietWorkerLogs, startTimeSkipping, startTogether } from '../test/harness/servers';
import { routerOfMetrics, startSandboxAws, TEST_SLACK_TOKEN, writeSandboxConfig } from '../test/harness/stack';
import type { Bench, BenchReport } from './lib';

const EventType = temporal.api.enums.v1.EventType;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

const CHANNEL = 'C0HISTORY';
const DAY = 24 * 3600;
/** The target: events in one run of a workflow. */
const TARGET_PER_RUN = 2000;

/** What an event is for: the analysis (sample timers, waits, metrics reads), Slack, AWS, or the rest. */
type Cause = 'analysis' | 'slack' | 'aws' | 'other';
const CAUSES: Cause[] = ['analysis', 'slack', 'aws', 'other'];
const SLACK_ACTIVITIES = new Set(['postMessage', 'updateMessage', 'findRunMessage']);

interface RunCount {
  events: number;
  byCause: Record<Cause, number>;
  byType: Record<string, number>;
  /** Activities scheduled, by activity type. */
  activities: Record<string, number>;
}

/**
 * Counts one run's events by cause. An activity's events belong to its activity type; a timer
 * with a summary (a soak, keep, standby or gate wait, whose firing takes a sample) to the
 * analysis; a workflow task, and a timer without summary, to whatever woke the workflow up
 * (the last event before the task was scheduled): so the pump's own coalescing timers and the
 * tasks that Slack's answers cause count as Slack's.
 */
export function countRun(events: HistoryEvent[]): RunCount {
  const byCause: Record<Cause, number> = { analysis: 0, slack: 0, aws: 0, other: 0 };
  const byType: Record<string, number> = {};
  const activities: Record<string, number> = {};
  const causeOfEvent = new Map<number, Cause>();
  const activityCause = (name: string): Cause => (name === 'measure' ? 'analysis' : SLACK_ACTIVITIES.has(name) ? 'slack' : 'aws');
  let lastCause: Cause = 'other';
  /** The cause of the workflow task now running: its commands without a cause of their own get it. */
  let taskCause: Cause = 'other';
  for (const e of events) {
    const id = Number(e.eventId);
    const type = EventType[e.eventType ?? 0].replace(/^EVENT_TYPE_/, '');
    byType[type] = (byType[type] ?? 0) + 1;
    let cause: Cause;
    if (e.activityTaskScheduledEventAttributes) {
      const name = e.activityTaskScheduledEventAttributes.activityType?.name ?? '?';
      activities[name] = (activities[name] ?? 0) + 1;
      cause = activityCause(name);
    } else if (type.startsWith('ACTIVITY_TASK_')) {
      const a = Object.values(e).find((v) => v && typeof v === 'object' && 'scheduledEventId' in v) as { scheduledEventId?: unknown } | undefined;
      cause = causeOfEvent.get(Number(a?.scheduledEventId ?? 0)) ?? 'other';
    } else if (e.timerStartedEventAttributes) {
      const summary = e.userMetadata?.summary?.data ? Buffer.from(e.userMetadata.summary.data).toString('utf8') : '';
      cause = summary.includes('Slack') ? 'slack' : summary ? 'analysis' : taskCause;
    } else if (e.timerFiredEventAttributes || e.timerCanceledEventAttributes) {
      const started = e.timerFiredEventAttributes?.startedEventId ?? e.timerCanceledEventAttributes?.startedEventId;
      cause = causeOfEvent.get(Number(started ?? 0)) ?? 'other';
    } else if (type === 'WORKFLOW_TASK_SCHEDULED') {
      cause = taskCause = lastCause;
    } else if (type.startsWith('WORKFLOW_TASK_')) {
      cause = taskCause;
    } else {
      cause = 'other';
    }
    causeOfEvent.set(id, cause);
    byCause[cause]++;
    if (!type.startsWith('WORKFLOW_TASK_')) lastCause = cause;
  }
  return { events: events.length, byCause, byType, activities };
}

/** Every run of a workflow (first to last), each counted. */
async function countRuns(handle: WorkflowHandle): Promise<RunCount[]> {
  const out: RunCount[] = [];
  for (const runId of await runIdsOf(handle)) {
    const history = await handle.client.getHandle(handle.workflowId, runId).fetchHistory();
    out.push(countRun(history.events ?? []));
  }
  return out;
}

/** Slack Web API calls about one run's message (the message, its updates, its thread). */
function slackCallsOf(slack: FakeSlack, workflowId: string): number {
  const parent = [...slack.messages.values()].find(
    (m) => m.threadTs === null && ((m.metadata as { event_payload?: { id?: string } } | null)?.event_payload?.id ?? '').startsWith(`${workflowId}#`),
  );
  if (!parent) return 0;
  const inThread = new Set([...slack.messages.values()].filter((m) => m.threadTs === parent.ts).map((m) => m.ts));
  const about = (c: FakeSlack['calls'][number]) =>
    c.args.ts === parent.ts || // the message updated
    c.args.thread_ts === parent.ts || // a reply or a card posted in its thread
    inThread.has(String(c.args.ts)) || // a card in its thread updated
    (c.method === 'chat.postMessage' && JSON.stringify(c.args.metadata ?? null).includes(`${workflowId}#`)); // the message posted
  return slack.calls.filter((c) => c.ok && about(c)).length;
}

interface Measured {
  what: string;
  workflowId: string;
  runs: RunCount[];
  slackCalls: number;
  /** Analysis samples taken (metrics reads scheduled). */
  samples: number;
}

const sum = (runs: RunCount[], f: (r: RunCount) => number) => runs.reduce((n, r) => n + f(r), 0);

/** The production plan of config/example.yaml with every soak `factor` times as long. */
function longerSoaks(plan: RolloutPlan, factor: number): RolloutPlan {
  return { ...plan, steps: plan.steps.map((st) => (st.type === 'soak' ? { ...st, durationSeconds: st.durationSeconds * factor } : st)) };
}

/**
 * The SDK gives the Java test server 5 s to come up, which a loaded machine (tests running
 * beside the benchmark) sometimes misses: one more try before giving up.
 */
async function startTimeSkippingPatiently(): ReturnType<typeof startTimeSkipping> {
  try {
    return await startTimeSkipping();
  } catch (err) {
    console.error(`history: the time-skipping server did not start (${String(err)}); trying once more`);
    return startTimeSkipping();
  }
}

/** Waits for a run to end; asks first (waiting on an ended run lets the test server skip years ahead). */
async function settled(h: WorkflowHandle): Promise<void> {
  if ((await h.describe()).status.name === 'RUNNING') await h.result().catch(() => undefined);
}

async function run({ quick }: { quick: boolean }): Promise<BenchReport> {
  quietWorkerLogs();
  const production = (parseYaml(readFileSync(resolve(__dirname, '../config/example.yaml'), 'utf8')) as { plans: Record<string, Record<string, unknown>> }).plans.production;
  const slack = await startFakeSlack();
  const measured: Measured[] = [];
  try {
    const [env, aws] = await startTogether(startTimeSkippingPatiently(), startSandboxAws());
    const files = writeSandboxConfig(aws, production, { slackChannel: CHANNEL });
    try {
      const { config, taskQueue } = files;
      const metrics = appMetrics(routerOfMetrics(config, aws.providers), () => healthy);
      const notifier = createSlackNotifier({ botToken: TEST_SLACK_TOKEN, apiUrl: slack.apiUrl, defaultChannel: CHANNEL });
      const worker = await createBatonWorker({
        connection: env.nativeConnection,
        namespace: 'default',
        taskQueue,
        regions: configRegions(config),
        deps: { ...aws.providers, metrics, notifier, stablePollMs: 100, temporal: env.client },
      });
      const client = env.client;
      const record = async (what: string, handle: WorkflowHandle) => {
        const runs = await countRuns(handle);
        measured.push({ what, workflowId: handle.workflowId, runs, slackCalls: slackCallsOf(slack, handle.workflowId), samples: sum(runs, (r) => r.activities.measure ?? 0) });
      };

      await worker.runUntil(async () => {
        // One deployment per plan, each to its end (24 h of standby included), one after the other.
        const plans: Array<[string, number]> = quick ? [['production plan', 1], ['soaks ×2', 2]] : [['production plan', 1], ['soaks ×10', 10]];
        let version = 1;
        for (const [what, factor] of plans) {
          const spec = buildDeploymentSpec(config, { service: 'web', environment: 'prod', version: `9.${version++}.0`, requestedBy: 'ada' });
          spec.plan = longerSoaks(spec.plan, factor);
          const { id } = await startDeployment(client, taskQueue, spec);
          const handle = client.workflow.getHandle(id);
          await handle.result();
          await record(`deployment, ${what}`, handle);
        }
        if (quick) return;

        // A release staging → prod whose prod gate waits a week of stability in staging.
        const prodGate: GateSpec = { checks: [], approvals: [], stabilitySeconds: 7 * DAY, train: null, expirySeconds: 3 * DAY };
        const stage = (environment: string, gate: GateSpec | null) => ({
          environment,
          gate,
          train: null,
          deployment: buildDeploymentSpec(config, { service: 'api', environment, version: '9.0.0', requestedBy: 'rita' }),
        });
        const input: ReleaseInput = {
          id: releaseId('api', '9.0.0'),
          request: { service: 'api', version: '9.0.0', hotfix: false, requestedBy: 'rita' },
          stages: [stage('staging', null), stage('prod', prodGate)],
          freezes: [],
          hotfixApprovalRole: null,
          notify: config.notifications,
        };
        const release = await client.workflow.start('release', { workflowId: input.id, taskQueue, args: [input] });
        await release.result();
        for (const st of input.stages) await settled(client.workflow.getHandle(st.deployment.id));
        await record('release, a week in staging', release);
        for (const st of input.stages) await record(`  its deployment to ${st.environment}`, client.workflow.getHandle(st.deployment.id));
      });
    } finally {
      await env.teardown();
      await aws.stop();
      rmSync(files.dir, { recursive: true, force: true });
    }
  } finally {
    await slack.stop();
  }
  return report(measured, quick);
}

function report(measured: Measured[], quick: boolean): BenchReport {
  const table: string[][] = [['run', 'samples', 'runs', 'max events/run', 'events in all', 'analysis', 'slack', 'aws', 'other', 'slack share', 'Slack API calls']];
  for (const m of measured) {
    const total = sum(m.runs, (r) => r.events);
    const slackEvents = sum(m.runs, (r) => r.byCause.slack);
    table.push([
      m.what,
      String(m.samples),
      String(m.runs.length),
      String(Math.max(...m.runs.map((r) => r.events))),
      String(total),
      ...CAUSES.map((c) => String(sum(m.runs, (r) => r.byCause[c]))),
      `${Math.round((100 * slackEvents) / total)} %`,
      String(m.slackCalls),
    ]);
  }
  const deployments = measured.filter((m) => m.what.startsWith('deployment'));
  const [base, longer] = deployments;
  const total = (m: Measured) => sum(m.runs, (r) => r.events);
  const slackOf = (m: Measured) => sum(m.runs, (r) => r.byCause.slack);
  const maxPerRun = Math.max(...measured.map((m) => Math.max(...m.runs.map((r) => r.events))));
  const perSample = (m: Measured) => sum(m.runs, (r) => r.byCause.analysis) / Math.max(1, m.samples);
  const notes = [
    'analysis: sample and wait timers, metrics reads and the workflow tasks they wake; slack: Slack activities, the pump\'s timers and the tasks they wake; aws: every other activity; other: start, signals, updates, search attributes, continue-as-new.',
    `Analysis samples are bounded by the plan: one per analysis interval of soak and keep (+1 per inconclusive sample, at most inconclusiveLimit per soak): ${base.samples} for the production plan; ${perSample(base).toFixed(1)} events each.`,
    `Soaks ${longer.what.replace(/.*×/, '×')}: ${(longer.samples / base.samples).toFixed(2)}× the samples, ${(total(longer) / total(base)).toFixed(2)}× the events; Slack's events ${slackOf(base)} → ${slackOf(longer)} (${(slackOf(longer) / Math.max(1, slackOf(base))).toFixed(2)}×).`,
    `Per run: ${maxPerRun <= TARGET_PER_RUN ? 'met' : 'MISSED'} (largest run ${maxPerRun} events vs target ≤ ${TARGET_PER_RUN}); production-plan deployment ${total(base)} events, ${total(base) <= TARGET_PER_RUN ? 'met' : 'MISSED'}.`,
  ];
  if (quick) notes.push('(--quick: soaks ×2 instead of ×10, no release; `npm run bench -- history` runs it all.)');
  const key = (m: Measured) => m.what.trim().replace(/[^a-z0-9]+/gi, '_').replace(/^_|_$/g, '');
  return {
    table,
    figures: {
      maxEventsPerRun: maxPerRun,
      ...Object.fromEntries(measured.map((m) => [key(m), { samples: m.samples, runs: m.runs.length, events: total(m), slackEvents: slackOf(m), slackCalls: m.slackCalls }])),
      eventsRatioLongerSoaks: total(longer) / total(base),
      samplesRatioLongerSoaks: longer.samples / base.samples,
    },
    notes,
  };
}

export const historyBench: Bench = { name: 'history', what: 'workflow history events per deployment and per release, by cause, on the production calendar', run };
