import { assertSafeDbName, keyUnder, type StorageBackend } from '@hadb/storage';
import { CoordinatorError } from './errors.js';
import { describeError, silentLogger, type Logger, type OpOptions, systemClock, wallSeconds } from '@hadb/io';

/**
 * A replica's advertisement, byte-compatible with Rust `hadb::NodeRegistration` (serde_json,
 * snake_case keys in this order).
 */
export interface NodeRegistration {
  readonly instanceId: string;
  /** How to reach the replica (for read routing). */
  readonly address: string;
  /** Free-form role string; the coordinator writes `"follower"`. */
  readonly role: string;
  /** Session id of the lease holder the replica follows; stale sessions are filtered out. */
  readonly leaderSessionId: string;
  /** Unix seconds (registrant's wall clock) of the last heartbeat. */
  readonly lastSeen: number;
}

/** Per-call options of {@link NodeRegistry}. */
export interface RegistryCallOptions extends OpOptions {
  readonly signal?: AbortSignal | undefined;
}

/**
 * Where followers advertise themselves for read-replica discovery. Writes are unconditional: each
 * node only writes its own entry. Advisory only — nothing safety-relevant depends on it.
 */
export interface NodeRegistry {
  /** Creates or replaces the entry of `registration.instanceId` under `db`. */
  register(prefix: string, db: string, registration: NodeRegistration, options?: RegistryCallOptions): Promise<void>;
  /** Removes the entry; a missing entry is not an error. */
  deregister(prefix: string, db: string, instanceId: string, options?: RegistryCallOptions): Promise<void>;
  /** Every parseable entry under `db` (stale ones included; filter with {@link isRegistrationValid}). */
  discoverAll(prefix: string, db: string, options?: RegistryCallOptions): Promise<NodeRegistration[]>;
}

/**
 * Whether an entry may be offered as a replica: it follows the current leader session and was seen
 * less than `ttlSecs` ago by the reader's wall clock (a discovery hint, so a clock comparison is
 * acceptable here).
 */
export function isRegistrationValid(
  registration: NodeRegistration,
  currentSessionId: string,
  ttlSecs: number,
  nowSecs: number = wallSeconds(systemClock),
): boolean {
  return registration.leaderSessionId === currentSessionId && nowSecs < registration.lastSeen + ttlSecs;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Serialises an entry exactly as Rust's serde_json does. */
export function encodeNodeRegistration(r: NodeRegistration): Uint8Array {
  if (!Number.isSafeInteger(r.lastSeen) || r.lastSeen < 0) {
    throw new CoordinatorError('HADB_CORE_INVALID_ARGUMENT', 'lastSeen must be a non-negative safe integer');
  }
  return encoder.encode(
    JSON.stringify({
      instance_id: r.instanceId,
      address: r.address,
      role: r.role,
      leader_session_id: r.leaderSessionId,
      last_seen: r.lastSeen,
    }),
  );
}

/** Parses an entry; throws `HADB_CORE_INVALID_RECORD` when malformed. */
export function decodeNodeRegistration(bytes: Uint8Array): NodeRegistration {
  let obj: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(decoder.decode(bytes));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    obj = parsed as Record<string, unknown>;
  } catch (cause) {
    throw new CoordinatorError('HADB_CORE_INVALID_RECORD', 'node registration is not a JSON object', { cause });
  }
  const str = (name: string): string => {
    const v = obj[name];
    if (typeof v !== 'string')
      throw new CoordinatorError('HADB_CORE_INVALID_RECORD', `node registration field ${name} must be a string`);
    return v;
  };
  const lastSeen = obj.last_seen;
  if (typeof lastSeen !== 'number' || !Number.isSafeInteger(lastSeen) || lastSeen < 0) {
    throw new CoordinatorError(
      'HADB_CORE_INVALID_RECORD',
      'node registration field last_seen must be a non-negative integer',
    );
  }
  return {
    instanceId: str('instance_id'),
    address: str('address'),
    role: str('role'),
    leaderSessionId: str('leader_session_id'),
    lastSeen,
  };
}

/** `{prefix}{db}/_nodes/{instanceId}.json`, checked to stay under `prefix`. */
export function nodeKey(prefix: string, db: string, instanceId: string): string {
  assertSafeDbName(db);
  assertSafeDbName(instanceId);
  return keyUnder(prefix, `${db}/_nodes/${instanceId}.json`);
}

/** `{prefix}{db}/_nodes/`, the listing prefix of {@link nodeKey}. */
export function nodesPrefix(prefix: string, db: string): string {
  assertSafeDbName(db);
  return keyUnder(prefix, `${db}/_nodes/x`).slice(0, -1);
}

/**
 * {@link NodeRegistry} over any {@link StorageBackend}, with Rust's key layout. Database names and
 * instance ids must pass `assertSafeDbName` (`[A-Za-z0-9][A-Za-z0-9._-]{0,127}`); keys are built
 * with `keyUnder`, so they cannot escape `prefix`. Corrupt or non-`.json` entries are logged and
 * skipped by {@link discoverAll}.
 */
export class StorageNodeRegistry implements NodeRegistry {
  readonly #storage: StorageBackend;
  readonly #logger: Logger;

  constructor(storage: StorageBackend, options: { readonly logger?: Logger | undefined } = {}) {
    this.#storage = storage;
    this.#logger = options.logger ?? silentLogger;
  }

  async register(
    prefix: string,
    db: string,
    registration: NodeRegistration,
    options: RegistryCallOptions = {},
  ): Promise<void> {
    const key = nodeKey(prefix, db, registration.instanceId);
    await this.#storage.put(key, encodeNodeRegistration(registration), { signal: options.signal });
  }

  async deregister(prefix: string, db: string, instanceId: string, options: RegistryCallOptions = {}): Promise<void> {
    await this.#storage.delete(nodeKey(prefix, db, instanceId), { signal: options.signal });
  }

  async discoverAll(prefix: string, db: string, options: RegistryCallOptions = {}): Promise<NodeRegistration[]> {
    const listPrefix = nodesPrefix(prefix, db);
    const keys = await this.#storage.list(listPrefix, { signal: options.signal });
    const out: NodeRegistration[] = [];
    for (const key of keys) {
      if (!key.endsWith('.json')) continue;
      const obj = await this.#storage.get(key, { signal: options.signal });
      if (obj === null) continue;
      try {
        out.push(decodeNodeRegistration(obj.data));
      } catch (err) {
        this.#logger.warn({ db, err: describeError(err) }, 'skipping corrupt node registration');
      }
    }
    return out;
  }
}
