// How fast Baton answers Slack, which gives up on an endpoint after 3 seconds: the time to
// verify a signed interaction and acknowledge it (the decision itself runs after the answer),
// and to answer `/baton help`; and how long rendering a run's message takes. No servers:
// the API's Temporal client is lazy and these paths never reach it.
import { createHmac } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { buildApp } from '../src/api/app';
import { loadConfigFile } from '../src/config';
import { resolve } from 'node:path';
import type { ApprovalCard, RunCard } from '../src/domain/notices';
import { renderCard } from '../src/slack/blocks';
import { fmtMs, median, percentile, type Bench, type BenchReport } from './lib';

const SECRET = 'bench-signing-secret';

function signed(body: string): Record<string, string> {
  const ts = String(Math.floor(Date.now() / 1000));
  const sig = createHmac('sha256', SECRET).update(`v0:${ts}:${body}`).digest('hex');
  return { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': ts, 'x-slack-signature': `v0=${sig}` };
}

const row = (what: string, ms: number[]): string[] => [what, String(ms.length), fmtMs(median(ms)), fmtMs(percentile(ms, 95)), fmtMs(percentile(ms, 99)), fmtMs(Math.max(...ms))];

async function timed(n: number, fn: () => Promise<void>): Promise<number[]> {
  for (let i = 0; i < 20; i++) await fn(); // warm-up
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await fn();
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return out;
}

async function run({ quick }: { quick: boolean }): Promise<BenchReport> {
  const config = loadConfigFile(resolve(__dirname, '../config/example.yaml'));
  const client = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) });
  const app = await buildApp({ client, config, slack: { signingSecret: SECRET } });
  const N = quick ? 100 : 500;
  let acks: number[] = [];
  let answers: number[] = [];
  try {
    const click = new URLSearchParams({
      payload: JSON.stringify({
        type: 'block_actions',
        user: { id: 'U0NOBODY' },
        channel: { id: 'C0123456789' },
        container: { message_ts: '1700000000.000001', thread_ts: '1700000000.000000' },
        actions: [{ action_id: 'baton.approve', value: JSON.stringify({ release: 'release:web:1.4.2', environment: 'prod' }) }],
      }),
    }).toString();
    acks = await timed(N, async () => {
      const res = await app.inject({ method: 'POST', url: '/slack/interactions', headers: signed(click), payload: click });
      if (res.statusCode !== 200) throw new Error(`interaction answered ${res.statusCode}`);
    });

    const help = new URLSearchParams({ command: '/baton', text: 'help', user_id: 'U0ADA', channel_id: 'C0123456789' }).toString();
    answers = await timed(N, async () => {
      const res = await app.inject({ method: 'POST', url: '/slack/commands', headers: signed(help), payload: help });
      if (res.statusCode !== 200) throw new Error(`command answered ${res.statusCode}`);
    });
  } finally {
    await app.close();
  }

  const run: RunCard = {
    kind: 'deployment', id: 'deploy:web:prod:1.4.2', title: 'Deploy web 1.4.2 to prod', requestedBy: 'ada', phase: 'soaking', outcome: null,
    progress: { percent: 25, label: 'of traffic on green' },
    countdown: { label: 'Soak at 25 %', remainingSeconds: 412, totalSeconds: 600, paused: false },
    lines: ['blue (live) → green (new)', 'Step 4/7: soak 25 % on green for 10m', 'Last analysis: pass — error rate 0.12 % (limit 1 %), p95 212 ms'],
    note: null,
  };
  const approval: ApprovalCard = {
    kind: 'approval', releaseId: 'release:web:1.4.2', releaseTitle: 'Release web 1.4.2', environment: 'prod', state: 'open',
    approvals: [{ by: 'rosa', decision: 'approve', comment: 'ship it' }], given: 1, required: 2, pending: ['1 more release-manager approval'], expiresAt: '2026-11-26T10:00:00.000Z',
  };
  const links = { temporalUi: 'https://temporal.example.com/x', api: 'https://baton.example.com/y' };
  const renders = quick ? 2_000 : 20_000;
  const t = process.hrtime.bigint();
  for (let i = 0; i < renders; i++) renderCard(i % 2 ? run : approval, links);
  const perRenderUs = Number(process.hrtime.bigint() - t) / 1e3 / renders;
  return {
    table: [
      ['what', 'n', 'p50', 'p95', 'p99', 'max'],
      row('approval click verified and acknowledged', acks),
      row('/baton help answered', answers),
      ['a run or approval message rendered', String(renders), `${perRenderUs.toFixed(1)} µs`, '', '', ''],
    ],
    figures: { ackP50Ms: median(acks), ackP99Ms: percentile(acks, 99), helpP99Ms: percentile(answers, 99), renderUs: perRenderUs },
    notes: [`Slack gives up after 3000 ms: the acknowledgement's p99 is ${fmtMs(percentile(acks, 99))}.`],
  };
}

export const slackBench: Bench = { name: 'slack', what: 'how fast Baton acknowledges Slack, and renders a run\'s message', run };
