// Headless Chromium for browser tests: Debian's `chromium` driven by playwright-core
// (`npx playwright install` cannot download here; see TOOLCHAIN.md). Installed with apt-get on
// first use when the tests run as root; otherwise the error says what to install.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Makes sure Debian's chromium is there; may take minutes the first time. */
export function ensureChromium(): string {
  if (existsSync(CHROMIUM)) return CHROMIUM;
  if (process.getuid?.() !== 0) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (sudo apt-get install -y chromium)`);
  const apt = (args: string[]) => execFileSync('apt-get', args, { stdio: 'pipe', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  try {
    apt(['install', '-y', 'chromium']);
  } catch {
    apt(['update']);
    apt(['install', '-y', 'chromium']);
  }
  if (!existsSync(CHROMIUM)) throw new Error(`apt-get installed chromium, but ${CHROMIUM} is still missing`);
  return CHROMIUM;
}

export interface HeadlessChromium {
  browser: Browser;
  stop(): Promise<void>;
}

/** A fresh headless browser (playwright gives it a throw-away profile and removes it on close). */
export async function startChromium(): Promise<HeadlessChromium> {
  const browser = await chromium.launch({
    executablePath: ensureChromium(),
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return { browser, stop: () => browser.close() };
}
