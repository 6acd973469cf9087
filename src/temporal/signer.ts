// The API's side of signed decisions (src/domain/signing.ts): it holds the secret half of the
// decision key (BATON_DECISION_KEY) and signs each decision it has checked, just before the
// Update goes to Temporal. Runs carry only the public half.
import { decisionKeyPair, signDecision, type DecisionSignature } from '../domain/signing';

export interface DecisionSigner {
  /** The public key (hex) each run started through this API carries. */
  readonly publicKey: string;
  /** The input with `signature` and `signedAt`, for Update `update` of run `workflowId`. */
  sign<T extends object>(workflowId: string, update: string, input: T): T & Required<DecisionSignature>;
}

export function decisionSigner(secretHex: string): DecisionSigner {
  const { secret, publicKey } = decisionKeyPair(secretHex);
  return {
    publicKey,
    sign: (workflowId, update, input) => signDecision(secret, workflowId, update, input, Date.now()),
  };
}
