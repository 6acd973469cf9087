// Faults injected into the sandbox's fake application, one per service/environment/colour.
// The control server's smoke endpoint and the metrics feeder both read this store, so one
// POST makes a colour fail its smoke test (errorRate ≥ 0.5) or only its analysis (below),
// which is how the sandbox demonstrates an automatic rollback. Listeners hear of every change,
// so the feeder can write a changed colour's metrics at once rather than on its next tick.
import { COLOURS, type Colour } from '../domain/types';

export interface FaultKey {
  service: string;
  environment: string;
  colour: Colour;
}

export interface Fault extends FaultKey {
  /** Share of requests answered with a 5xx, 0..1. */
  errorRate: number;
  /** Added to every response's latency, in milliseconds. */
  latencyMs: number;
}

/** A bad fault request; `field` names the offending field. */
export class FaultError extends Error {
  override name = 'FaultError';
  readonly code = 'bad_request';
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

const NAME = /^[a-z][a-z0-9-]{0,31}$/;

function requireName(body: Record<string, unknown>, field: 'service' | 'environment'): string {
  const value = body[field];
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw new FaultError(field, `${field}: must be a name such as 'web' or 'prod' (got ${JSON.stringify(value)})`);
  }
  return value;
}

function requireColour(body: Record<string, unknown>): Colour {
  const value = body.colour;
  if (!COLOURS.includes(value as Colour)) {
    throw new FaultError('colour', `colour: must be 'blue' or 'green' (got ${JSON.stringify(value)})`);
  }
  return value as Colour;
}

function optionalNumber(body: Record<string, unknown>, field: string, min: number, max: number): number | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    const range = max === Infinity ? `at least ${min}` : `between ${min} and ${max}`;
    throw new FaultError(field, `${field}: must be a number ${range} (got ${JSON.stringify(value)})`);
  }
  return value;
}

function asObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new FaultError('body', 'body: must be a JSON object {service, environment, colour, errorRate?, latencyMs?}');
  }
  return body as Record<string, unknown>;
}

/** Validates `{service, environment, colour}`. */
export function parseFaultKey(body: unknown): FaultKey {
  const obj = asObject(body);
  return { service: requireName(obj, 'service'), environment: requireName(obj, 'environment'), colour: requireColour(obj) };
}

/** Validates a fault request; at least one of errorRate (0..1) and latencyMs (≥ 0) is required. */
export function parseFault(body: unknown): Fault {
  const obj = asObject(body);
  const key = parseFaultKey(obj);
  const errorRate = optionalNumber(obj, 'errorRate', 0, 1);
  const latencyMs = optionalNumber(obj, 'latencyMs', 0, Infinity);
  if (errorRate === undefined && latencyMs === undefined) {
    throw new FaultError('errorRate', 'errorRate: give errorRate (0..1) or latencyMs (≥ 0), or both');
  }
  return { ...key, errorRate: errorRate ?? 0, latencyMs: latencyMs ?? 0 };
}

function keyOf(k: FaultKey): string {
  return `${k.service}/${k.environment}/${k.colour}`;
}

export interface FaultStoreOptions {
  /** When given, faults may only name these service/environment pairs. */
  known?: ReadonlyArray<{ service: string; environment: string }>;
}

/** Told which colour's fault changed (set, replaced by another, or healed), after the store holds the change. */
export type FaultListener = (key: FaultKey) => void;

/** In-memory faults; setting a fault replaces the colour's previous one (set-to-value). */
export class FaultStore {
  private readonly faults = new Map<string, Fault>();
  private readonly known: Set<string> | null;
  private readonly listeners = new Set<FaultListener>();

  constructor(opts: FaultStoreOptions = {}) {
    this.known = opts.known ? new Set(opts.known.map((k) => `${k.service}/${k.environment}`)) : null;
  }

  /** Validates and stores a fault; throws FaultError on bad input. */
  set(input: unknown): Fault {
    const fault = parseFault(input);
    this.checkKnown(fault);
    const before = this.faults.get(keyOf(fault));
    this.faults.set(keyOf(fault), fault);
    const same = before !== undefined && before.errorRate === fault.errorRate && before.latencyMs === fault.latencyMs;
    if (!same) this.changed(fault);
    return fault;
  }

  /** Heals a colour; true when it had a fault. */
  clear(input: unknown): boolean {
    const key = parseFaultKey(input);
    this.checkKnown(key);
    const had = this.faults.delete(keyOf(key));
    if (had) this.changed(key);
    return had;
  }

  /**
   * Calls `listener` after every change (a fault set with other figures, or healed; setting the
   * same fault again is no change). It runs synchronously inside set() and clear(), so it must
   * not throw; slow work belongs in what it starts. Returns the unsubscribe function.
   */
  subscribe(listener: FaultListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  get(service: string, environment: string, colour: Colour): Fault | null {
    return this.faults.get(keyOf({ service, environment, colour })) ?? null;
  }

  list(): Fault[] {
    return [...this.faults.values()].sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
  }

  private changed(key: FaultKey): void {
    const { service, environment, colour } = key;
    for (const listener of this.listeners) listener({ service, environment, colour });
  }

  private checkKnown(key: FaultKey): void {
    if (!this.known || this.known.has(`${key.service}/${key.environment}`)) return;
    const known = [...this.known].join(', ');
    throw new FaultError('service', `service: the sandbox has no '${key.service}' in '${key.environment}' (known: ${known})`);
  }
}
