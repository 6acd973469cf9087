// `npm run bench`: every benchmark, each printing its figures. Benchmarks measure; tests check behaviour.
import { benchSlack } from './slack';

async function main(): Promise<void> {
  await benchSlack();
}

main().catch((err: unknown) => {
  console.error('bench: failed:', err);
  process.exit(1);
});
