// Signed decisions. A person's decision (an approval, a check, a cancel, an operator action)
// reaches a workflow as an Update. Anyone who can reach Temporal can send an Update, so the
// API signs each decision with its Ed25519 key (BATON_DECISION_KEY, only in the API's
// environment) and every run carries the public key from its start: the validator refuses a
// decision that is unsigned, signed for another run or Update, altered, or already used (each
// signature is accepted once: a copy replayed from the history is refused).
// Pure and deterministic (@noble/curves), so it runs inside the workflow sandbox.
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex, hexToBytes } from '@noble/curves/utils.js';

/** What the API adds to a decision's input. */
export interface DecisionSignature {
  /** Ed25519 signature (hex) of decisionMessage(). */
  signature?: string;
  /** When the API signed it (ISO): part of the signed bytes, so no two signatures are alike. */
  signedAt?: string;
}

/** JSON with object keys sorted at every level, `undefined` left out: the bytes both sides sign. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The signed bytes: the run, the Update, and the decision without its signature. */
export function decisionMessage(workflowId: string, update: string, input: object): Uint8Array {
  const { signature: _signature, ...rest } = input as DecisionSignature & Record<string, unknown>;
  void _signature;
  return new TextEncoder().encode(`baton-decision-v1\n${workflowId}\n${update}\n${canonicalJson(rest)}`);
}

/** A key pair from a 32-byte secret (hex): what the API signs with and what runs verify with. */
export function decisionKeyPair(secretHex: string): { secret: Uint8Array; publicKey: string } {
  const secret = hexToBytes(secretHex);
  if (secret.length !== 32) throw new RangeError('a decision key is 32 bytes (64 hex digits)');
  return { secret, publicKey: bytesToHex(ed25519.getPublicKey(secret)) };
}

/** A new random secret (hex), e.g. for `npm start`'s sandbox or a test. */
export function newDecisionSecret(): string {
  return bytesToHex(ed25519.utils.randomSecretKey());
}

/** Signs a decision for one Update of one run; answers the input with `signature` and `signedAt`. */
export function signDecision<T extends object>(secret: Uint8Array, workflowId: string, update: string, input: T, nowMs: number): T & Required<DecisionSignature> {
  const dated = { ...input, signedAt: new Date(nowMs).toISOString() };
  const signature = bytesToHex(ed25519.sign(decisionMessage(workflowId, update, dated), secret));
  return { ...dated, signature };
}

/**
 * Why a decision's signature does not hold, or null when it does: missing, malformed, not by
 * the run's key for this run and Update, or one the run has accepted before (`used`).
 */
export function whySignatureRefused(publicKeyHex: string, workflowId: string, update: string, input: DecisionSignature & object, used: ReadonlySet<string>): string | null {
  if (!input.signature || !input.signedAt) return 'the decision is not signed by Baton\'s API (send it through the API or Slack, not straight to Temporal)';
  if (used.has(input.signature)) return 'this signed decision was used already (a replayed copy)';
  let ok = false;
  try {
    ok = /^[0-9a-f]{128}$/.test(input.signature) && ed25519.verify(hexToBytes(input.signature), decisionMessage(workflowId, update, input), hexToBytes(publicKeyHex));
  } catch {
    ok = false;
  }
  return ok ? null : 'the decision\'s signature does not verify (not signed by Baton\'s API for this run and decision)';
}
