import type { Host, Scheduler } from './scheduler.js';

/** Per-request fault probabilities and one-way delay of a simulated service. */
export interface FaultProfile {
  /** One-way delay in ms (called for the request and for the reply). */
  readonly delay: (sim: Scheduler) => number;
  /** The request never arrives (no effect, no reply). */
  readonly lostRequest: number;
  /** The request takes effect but the reply never arrives. */
  readonly lostReply: number;
  /** The request takes effect, the reply is an "outcome unknown" error. */
  readonly ambiguousApplied: number;
  /** The request has no effect, the reply is an "outcome unknown" error. */
  readonly ambiguousNotApplied: number;
  /** The request is refused before taking effect (transient error). */
  readonly unavailable: number;
}

export const CALM: FaultProfile = {
  delay: (sim) => sim.rng.between(1, 15),
  lostRequest: 0,
  lostReply: 0,
  ambiguousApplied: 0,
  ambiguousNotApplied: 0,
  unavailable: 0,
};

/** Errors a service raises, in its own error type. */
export interface ServiceErrors {
  aborted(reason: unknown): Error;
  ambiguous(): Error;
  unavailable(): Error;
}

export type Fault =
  | 'none'
  | 'lost-request'
  | 'lost-reply'
  | 'ambiguous-applied'
  | 'ambiguous-not-applied'
  | 'unavailable';

/** One request, as a test's {@link Network.intercept} sees it. */
export interface Request {
  /** `lease.read`, `lease.create`, `lease.cas`, `storage.get`, `storage.create`, ... */
  readonly kind: string;
  readonly host: Host;
  readonly key: string;
}

/** A scripted outcome for one request (unset fields fall back to the profile). */
export interface Scripted {
  readonly fault?: Fault;
  readonly requestDelayMs?: number;
  readonly replyDelayMs?: number;
}

/**
 * Delivers requests from a host to a shared in-memory service with delays and faults. Requests
 * travel independently of the sender (a paused or crashed sender's request still arrives); replies
 * are host tasks (they wait for a paused host and are lost with a crashed one). An abort settles
 * the caller's promise at once without undoing a request that is already on its way.
 */
export class Network {
  private readonly sim: Scheduler;
  profile: FaultProfile;
  /** Per-request override: tests script faults and delays for specific requests. */
  intercept: ((request: Request) => Scripted | undefined) | undefined;

  constructor(sim: Scheduler, profile: FaultProfile) {
    this.sim = sim;
    this.profile = profile;
  }

  call<T>(
    host: Host,
    kind: string,
    key: string,
    isWrite: boolean,
    signal: AbortSignal | undefined,
    apply: () => T,
    errors: ServiceErrors,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (signal?.aborted) {
        reject(errors.aborted(signal.reason));
        return;
      }
      let settled = false;
      const settle = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const onAbort = (): void => settle(() => reject(errors.aborted(signal?.reason)));
      signal?.addEventListener('abort', onAbort, { once: true });
      const scripted = this.intercept?.({ kind, host, key });
      const fault = scripted?.fault ?? this.roll(isWrite);
      const sim = this.sim;
      const requestDelay = scripted?.requestDelayMs ?? this.profile.delay(sim);
      const replyDelay = (): number => scripted?.replyDelayMs ?? this.profile.delay(sim);
      const incarnation = host.incarnation;
      if (fault === 'unavailable') {
        sim.schedule(requestDelay + replyDelay(), () => settle(() => reject(errors.unavailable())), host);
        return;
      }
      sim.schedulePure(requestDelay, () => {
        if (fault === 'lost-request') return;
        let result: T | undefined;
        let error: unknown;
        let failed = false;
        if (fault !== 'ambiguous-not-applied') {
          try {
            result = apply();
          } catch (err) {
            failed = true;
            error = err;
          }
        }
        if (fault === 'lost-reply') return;
        sim.schedule(
          replyDelay(),
          () =>
            settle(() => {
              if (fault === 'ambiguous-applied' || fault === 'ambiguous-not-applied') reject(errors.ambiguous());
              else if (failed) reject(error);
              else resolve(result as T);
            }),
          host,
          incarnation,
        );
      });
    });
  }

  private roll(isWrite: boolean): Fault {
    const p = this.profile;
    const rng = this.sim.rng;
    let x = rng.float();
    if ((x -= p.lostRequest) < 0) return 'lost-request';
    if ((x -= p.lostReply) < 0) return 'lost-reply';
    if ((x -= p.unavailable) < 0) return 'unavailable';
    if (!isWrite) return 'none';
    if ((x -= p.ambiguousApplied) < 0) return 'ambiguous-applied';
    if ((x -= p.ambiguousNotApplied) < 0) return 'ambiguous-not-applied';
    return 'none';
  }
}
