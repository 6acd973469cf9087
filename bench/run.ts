// `npm run bench [-- <name>...] [-- --quick]`: each benchmark, or the named ones, one after the
// other (they start their own servers and stop them). Benchmarks measure; tests check behaviour.
import type { Bench } from './lib';
import { printReport } from './lib';
import { slackBench } from './slack';
import { apiBench } from './api';
import { rollbackBench } from './rollback';
import { historyBench } from './history';
import { overheadBench } from './overhead';
import { scaleBench } from './scale';

/** Every benchmark, in the order `npm run bench` runs them. */
export const BENCHES: Bench[] = [slackBench, rollbackBench, apiBench, historyBench, overheadBench, scaleBench];

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const names = args.filter((a) => !a.startsWith('--'));
  const unknown = names.filter((n) => !BENCHES.some((b) => b.name === n));
  if (unknown.length) {
    console.error(`bench: no benchmark named ${unknown.join(', ')} (known: ${BENCHES.map((b) => b.name).join(', ')})`);
    process.exit(2);
  }
  const chosen = names.length ? BENCHES.filter((b) => names.includes(b.name)) : BENCHES;
  for (const b of chosen) {
    const t0 = Date.now();
    const report = await b.run({ quick });
    printReport(b.name, b.what, report, (Date.now() - t0) / 1000);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error('bench: failed:', err);
    process.exit(1);
  },
);
