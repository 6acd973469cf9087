import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

interface Manifest {
  features: {
    bot_user: { display_name: string };
    slash_commands: Array<{ command: string; url: string; should_escape: boolean }>;
  };
  oauth_config: { scopes: { bot: string[] } };
  settings: { interactivity: { is_enabled: boolean; request_url: string }; socket_mode_enabled: boolean };
}

const manifest = parse(readFileSync(join(__dirname, '../../slack/manifest.yaml'), 'utf8')) as Manifest;

describe('the Slack app manifest', () => {
  it('sends /baton to the API\'s slash command endpoint, unescaped', () => {
    const baton = manifest.features.slash_commands.find((c) => c.command === '/baton');
    expect(baton?.url).toMatch(/^https:\/\/.+\/slack\/commands$/);
    expect(baton?.should_escape).toBe(false);
  });

  it('sends button clicks and modal submissions to the interactions endpoint over HTTP', () => {
    expect(manifest.settings.interactivity.is_enabled).toBe(true);
    expect(manifest.settings.interactivity.request_url).toMatch(/^https:\/\/.+\/slack\/interactions$/);
    expect(manifest.settings.socket_mode_enabled).toBe(false);
  });

  it('asks for the scopes Baton uses to post, take commands and find its messages again', () => {
    expect(manifest.oauth_config.scopes.bot).toEqual(expect.arrayContaining(['chat:write', 'commands', 'channels:history']));
  });

  it('names the bot Baton', () => {
    expect(manifest.features.bot_user.display_name).toBe('Baton');
  });
});
