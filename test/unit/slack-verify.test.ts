import { describe, expect, it } from 'vitest';
import { verifySlackSignature } from '../../src/slack/verify';
import { slackHeaders } from '../harness/slack-signing';

const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const NOW_MS = 1_700_000_000_000;
const NOW = NOW_MS / 1000;
const BODY = 'token=x&team_id=T1&user_id=U0ROSA&command=%2Fbaton&text=status+web+prod';

function check(body: string, headers: Record<string, string | undefined>, nowMs = NOW_MS) {
  return verifySlackSignature({
    signingSecret: SECRET,
    timestamp: headers['x-slack-request-timestamp'],
    signature: headers['x-slack-signature'],
    rawBody: body,
    nowMs,
  });
}

describe('verifySlackSignature', () => {
  it('accepts a body signed with the secret at the stated time', () => {
    expect(check(BODY, slackHeaders(SECRET, BODY, { timestamp: NOW }))).toEqual({ ok: true });
  });

  it("matches Slack's documented example", () => {
    // From Slack's "Verifying requests from Slack" guide.
    const body = 'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar'
      + '&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN'
      + '&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
    const verdict = verifySlackSignature({
      signingSecret: SECRET,
      timestamp: '1531420618',
      signature: 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
      rawBody: body,
      nowMs: 1531420618 * 1000 + 1000,
    });
    expect(verdict).toEqual({ ok: true });
  });

  it('refuses a signature made with another secret', () => {
    expect(check(BODY, slackHeaders(SECRET, BODY, { timestamp: NOW, secret: 'not-the-secret' }))).toEqual({ ok: false, reason: 'X-Slack-Signature does not match' });
  });

  it('refuses a body changed after signing', () => {
    expect(check(`${BODY}+prod`, slackHeaders(SECRET, BODY, { timestamp: NOW }))).toMatchObject({ ok: false, reason: 'X-Slack-Signature does not match' });
  });

  it('refuses a timestamp changed after signing', () => {
    const headers = slackHeaders(SECRET, BODY, { timestamp: NOW });
    expect(check(BODY, { ...headers, 'x-slack-request-timestamp': String(NOW + 1) })).toMatchObject({ ok: false, reason: 'X-Slack-Signature does not match' });
  });

  it('takes timestamps up to five minutes away, either way, and refuses older or newer ones', () => {
    expect(check(BODY, slackHeaders(SECRET, BODY, { timestamp: NOW - 300 }))).toEqual({ ok: true });
    expect(check(BODY, slackHeaders(SECRET, BODY, { timestamp: NOW + 300 }))).toEqual({ ok: true });
    expect(check(BODY, slackHeaders(SECRET, BODY, { timestamp: NOW - 301 }))).toEqual({ ok: false, reason: 'X-Slack-Request-Timestamp is 301s from now (at most 300s)' });
    expect(check(BODY, slackHeaders(SECRET, BODY, { timestamp: NOW + 3600 }))).toMatchObject({ ok: false, reason: expect.stringMatching(/3600s from now/) });
  });

  it('refuses missing, malformed and truncated headers', () => {
    const good = slackHeaders(SECRET, BODY, { timestamp: NOW });
    expect(check(BODY, { ...good, 'x-slack-signature': undefined })).toEqual({ ok: false, reason: 'missing X-Slack-Signature' });
    expect(check(BODY, { ...good, 'x-slack-request-timestamp': undefined })).toEqual({ ok: false, reason: 'missing X-Slack-Request-Timestamp' });
    expect(check(BODY, { ...good, 'x-slack-request-timestamp': '1.7e9' })).toMatchObject({ ok: false, reason: expect.stringMatching(/not Unix seconds/) });
    expect(check(BODY, { ...good, 'x-slack-signature': good['x-slack-signature'].slice(0, -1) })).toMatchObject({ ok: false, reason: 'X-Slack-Signature does not match' });
    expect(check(BODY, { ...good, 'x-slack-signature': good['x-slack-signature'].replace('v0=', 'v1=') })).toMatchObject({ ok: false });
    expect(check(BODY, { ...good, 'x-slack-signature': `${good['x-slack-signature']}00` })).toMatchObject({ ok: false });
  });
});
