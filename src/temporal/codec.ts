// Payloads encrypted before they reach Temporal: workflow inputs, results, Update arguments,
// queries, memos and summaries carry comments, URLs and ARNs that Temporal's store (and anyone
// who reads it) should not see. AES-256-GCM with keys from BATON_CODEC_KEYS (src/config.ts):
// the first key encrypts, every key decrypts, and each payload names its key's id, so a key
// is rotated by putting a new one first and dropping the old one once no history needs it.
// Payloads that are not encrypted (histories written before the codec was turned on) pass
// through as they are. Keys live only here and in the environment: never in a payload or a log.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import type { CodecKey, RuntimeEnv } from '../config';

/** The `encoding` of an encrypted payload; its `data` is the whole original payload, sealed. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** The metadata key naming the key a payload was encrypted with. */
export const KEY_ID_METADATA = 'encryption-key-id';

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A payload the codec cannot decrypt: which one, and why (never key material). */
export class CodecError extends Error {
  override name = 'CodecError';
}

const utf8 = (text: string) => new Uint8Array(Buffer.from(text, 'utf8'));
const text = (bytes: Uint8Array | null | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : '');

/** A payload as bytes: JSON of its metadata and data in base64 (our own envelope, read only by this codec). */
function seal(payload: Payload): Buffer {
  const metadata = Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
  return Buffer.from(JSON.stringify({ metadata, data: Buffer.from(payload.data ?? new Uint8Array()).toString('base64') }), 'utf8');
}

function unseal(bytes: Buffer): Payload {
  const { metadata, data } = JSON.parse(bytes.toString('utf8')) as { metadata: Record<string, string>; data: string };
  return {
    metadata: Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))])),
    data: new Uint8Array(Buffer.from(data, 'base64')),
  };
}

export class EncryptionCodec implements PayloadCodec {
  private readonly byId: ReadonlyMap<string, Buffer>;
  private readonly current: CodecKey;

  /** `keys[0]` encrypts; every key decrypts. */
  constructor(keys: readonly CodecKey[]) {
    if (!keys.length) throw new Error('EncryptionCodec needs at least one key');
    for (const k of keys) if (k.key.length !== 32) throw new Error(`codec key '${k.id}' is ${k.key.length} bytes; AES-256 needs 32`);
    this.current = keys[0];
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  /** The id of the key new payloads are encrypted with. */
  get keyId(): string {
    return this.current.id;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.encrypt(p));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.decrypt(p));
  }

  private encrypt(payload: Payload): Payload {
    const { id, key } = this.current;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    // The key id is authenticated too: relabelling a payload with another id fails to decrypt.
    cipher.setAAD(Buffer.from(id, 'utf8'));
    const sealed = Buffer.concat([iv, cipher.update(seal(payload)), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: { encoding: utf8(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: utf8(id) },
      data: new Uint8Array(sealed),
    };
  }

  private decrypt(payload: Payload): Payload {
    if (text(payload.metadata?.encoding) !== ENCRYPTED_ENCODING) return payload;
    const id = text(payload.metadata?.[KEY_ID_METADATA]);
    if (!id) throw new CodecError(`an encrypted payload names no key (metadata '${KEY_ID_METADATA}' is missing)`);
    const key = this.byId.get(id);
    if (!key) throw new CodecError(`a payload is encrypted with key '${id}', which BATON_CODEC_KEYS does not have (it has ${[...this.byId.keys()].map((k) => `'${k}'`).join(', ')})`);
    const data = Buffer.from(payload.data ?? new Uint8Array());
    if (data.length < IV_BYTES + TAG_BYTES) throw new CodecError(`a payload encrypted with key '${id}' is too short to be one of ours`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(id, 'utf8'));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      return unseal(Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]));
    } catch {
      throw new CodecError(`a payload encrypted with key '${id}' does not decrypt: it was altered, or encrypted with another key of that id`);
    }
  }
}

/** The codec BATON_CODEC_KEYS asks for, or null (plaintext payloads). */
export function codecOf(runtime: Pick<RuntimeEnv, 'codec'>): EncryptionCodec | null {
  return runtime.codec ? new EncryptionCodec(runtime.codec.keys) : null;
}

/**
 * The data converter of every client and worker Baton creates: with the codec when configured,
 * else undefined (the SDK's default, plaintext).
 */
export function dataConverterOf(runtime: Pick<RuntimeEnv, 'codec'>): DataConverter | undefined {
  const codec = codecOf(runtime);
  return codec ? { payloadCodecs: [codec] } : undefined;
}
