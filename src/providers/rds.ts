// Databases on Amazon RDS: the instance's snapshots (automated and manual), restores into a new
// instance beside the original (to a point in time, or from a snapshot), and the switch that
// moves the services to it: renaming the instances, or repointing a Route 53 CNAME.
//
// Every write is keyed, so a repeat finds what an earlier attempt made:
//   - a backup is the snapshot snapshotIdFor(backupId);
//   - a restore's copy is the instance copyInstanceId(instanceId, restoreId), tagged with the
//     restore's id (RESTORE_TAG); a rename switch gives it the services' name and it keeps the tag.
// The switch converges from what it reads: which identifiers exist, and the tags of the instance
// that answers to the services' name. A switch interrupted half-way is finished by switchTo and
// undone by switchBack. The original, once set aside, carries SET_ASIDE_BY_TAG: dropSetAside
// deletes nothing without it.
//
// RDS hands out no rows without a connection to the database, and Baton opens none yet: backups
// carry no manifest, and the checks that need rows (a manifest, SQL assertions) fail closed.
// Running them over a connection (credentials from the worker's environment) is future work.
//
// moto 5.2.5 (the local stand-in) against real RDS:
//   - Instances and snapshots are 'available' at once. Real RDS takes minutes (creating,
//     backing-up, renaming, ...), hence the waits: every pollMs, up to waitTimeoutMs.
//   - LatestRestorableTime is always "now" (real RDS: about five minutes behind, absent with
//     automated backups off). DescribeDBInstanceAutomatedBackups has no RestoreWindow, so the
//     earliest restorable time comes from the oldest automated snapshot (moto takes one, at
//     CreateDBInstance; real RDS one a day).
//   - A point-in-time restore copies the source as it is and ignores RestoreTime; real RDS
//     replays the log to it and refuses one outside the window (checked here for both).
//   - ModifyDBInstance renames at once (NewDBInstanceIdentifier works) and silently replaces an
//     instance that already has the new name; real RDS refuses that. Every rename here checks
//     the name is free first.
//   - Every instance has the same DbiResourceId, so nothing here keys on it.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AddTagsToResourceCommand,
  CreateDBSnapshotCommand,
  DeleteDBInstanceCommand,
  DescribeDBInstanceAutomatedBackupsCommand,
  DescribeDBInstancesCommand,
  DescribeDBSnapshotsCommand,
  ModifyDBInstanceCommand,
  RemoveTagsFromResourceCommand,
  RestoreDBInstanceFromDBSnapshotCommand,
  RestoreDBInstanceToPointInTimeCommand,
  type DBInstance,
  type DBSnapshot,
  type RDSClient,
  type Tag,
} from '@aws-sdk/client-rds';
import { ChangeResourceRecordSetsCommand, GetChangeCommand, ListResourceRecordSetsCommand, type Route53Client } from '@aws-sdk/client-route-53';
import { parseInstant } from '../domain/instants';
import { currentAbortSignal, infrastructureMismatch, orMismatch, send, type AwsClients } from './aws';
import type {
  BackupInfo,
  DatabaseProvider,
  DatabaseTarget,
  Inventory,
  RdsTarget,
  RestoredCopy,
  RestoreRequest,
  SwitchState,
  VerificationResult,
  VerifySpec,
} from './database';

/** On a restored copy: the restore's id. */
export const RESTORE_TAG = 'baton:restore';
/** On a restored copy: the instant its data is as of (the point in time, or the snapshot's). */
export const RESTORED_TO_TAG = 'baton:restored-to';
/** On a restored copy: what it was restored from, as the request said (`backup <id>` or `point-in-time <instant>`). */
export const RESTORE_SOURCE_TAG = 'baton:restore-source';
/** On a restored copy, once a switch begins: the identifier the original is kept under. */
export const SET_ASIDE_TAG = 'baton:set-aside';
/** On an original set aside by a switch: the restore that did it. dropSetAside deletes only instances carrying it. */
export const SET_ASIDE_BY_TAG = 'baton:set-aside-by';
/** On a snapshot Baton took: the backup id it was asked for, and who asked. */
export const BACKUP_TAG = 'baton:backup';
export const TAKEN_BY_TAG = 'baton:taken-by';

/** Restores and renames take minutes on real RDS; a check every 15 s is plenty. */
export const DEFAULT_POLL_MS = 15_000;
/** A restore of a large instance can take most of an hour. A wait that times out throws; the call is safe to repeat. */
export const DEFAULT_WAIT_TIMEOUT_MS = 60 * 60_000;

export interface RdsDatabaseOptions {
  pollMs?: number;
  waitTimeoutMs?: number;
}

/** An instance identifier RDS accepts: a letter, then letters, digits and single hyphens, at most 63 (RDS keeps them lower case). */
const INSTANCE_ID = /^[a-z](?:[a-z0-9]|-(?!-))*$/;
const MAX_INSTANCE_ID = 63;

/** Whether RDS accepts `id` as an instance identifier. */
export function isInstanceId(id: string): boolean {
  return INSTANCE_ID.test(id) && !id.endsWith('-') && id.length <= MAX_INSTANCE_ID;
}

/** RDS's "no such instance" (the SDK's name, and moto's). */
export function isInstanceNotFound(err: unknown): boolean {
  const name = (err as Error | null)?.name;
  return name === 'DBInstanceNotFoundFault' || name === 'DBInstanceNotFound';
}
/** A snapshot identifier CreateDBSnapshot accepts and keeps as written: the same rule, at most 255. */
const MAX_SNAPSHOT_ID = 255;
/** Statuses an instance does not leave by itself: waiting for 'available' is pointless. */
export const STUCK_STATUSES: ReadonlySet<string> = new Set([
  'failed',
  'incompatible-restore',
  'incompatible-parameters',
  'incompatible-network',
  'incompatible-option-group',
  'inaccessible-encryption-credentials',
  'restore-error',
  'storage-full',
  'stopped',
]);

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 8);
}

/** The instance a restore builds: `<instance>-restore-<hash of restoreId>` (the instance part shortened to fit 63). */
export function copyInstanceId(instanceId: string, restoreId: string): string {
  const suffix = `-restore-${shortHash(restoreId)}`;
  const base = instanceId.toLowerCase().slice(0, MAX_INSTANCE_ID - suffix.length).replace(/-+$/, '');
  return `${base}${suffix}`;
}

/** The snapshot a backup takes: the backup id itself when it is a valid identifier, else a cleaned form with a hash of the id. */
export function snapshotIdFor(backupId: string): string {
  if (INSTANCE_ID.test(backupId) && !backupId.endsWith('-') && backupId.length <= MAX_SNAPSHOT_ID) return backupId;
  const suffix = `-${shortHash(backupId)}`;
  const cleaned = backupId
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^[^a-z]+/, '')
    .slice(0, MAX_SNAPSHOT_ID - suffix.length)
    .replace(/-+$/, '');
  return `${cleaned || 'backup'}${suffix}`;
}

/** RDS tag values allow letters, digits, spaces and `_ . : / = + - @`, up to 256 characters. */
function tagValue(text: string): string {
  return text.replace(/[^\p{L}\p{N}\p{Z}_.:/=+\-@]/gu, '_').slice(0, 256);
}

function tagOf(tags: Tag[] | undefined, key: string): string | undefined {
  return tags?.find((t) => t.Key === key)?.Value;
}

function isCopyOf(instance: DBInstance, restoreId: string): boolean {
  return tagOf(instance.TagList, RESTORE_TAG) === tagValue(restoreId);
}

function idOf(instance: DBInstance): string {
  return (instance.DBInstanceIdentifier ?? '').toLowerCase();
}

function iso(date: Date | undefined): string | null {
  return date ? date.toISOString() : null;
}

/** Runs one AWS step; its error says which. The SDK error keeps its name, so fault types and AbortError still match. */
async function step<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof Error && !err.message.startsWith(what)) err.message = `${what}: ${err.message}`;
    throw err;
  }
}

function hasName(err: unknown, name: string): boolean {
  return (err as Error)?.name === name;
}

interface Ctx {
  target: RdsTarget;
  /** The identifier the services use, as RDS spells it (lower case). */
  name: string;
  rds: RDSClient;
  route53: Route53Client;
  pollMs: number;
  waitTimeoutMs: number;
}

export function createRdsDatabases(aws: AwsClients, opts: RdsDatabaseOptions = {}): DatabaseProvider {
  const pollMs = opts.pollMs ?? DEFAULT_POLL_MS;
  const waitTimeoutMs = opts.waitTimeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS;

  function open(target: DatabaseTarget): Ctx {
    if (target.kind !== 'rds') {
      throw infrastructureMismatch(`the RDS database provider was given a ${target.kind} database (${target.host}:${target.port}/${target.database})`);
    }
    return { target, name: target.instanceId.toLowerCase(), rds: aws.rds(target.region), route53: aws.route53(target.region), pollMs, waitTimeoutMs };
  }

  // ---------------------------------------------------------------- backups

  /** The instance's snapshots, oldest first, and the range a point-in-time restore reaches. */
  async function inventory(target: DatabaseTarget): Promise<Inventory> {
    const ctx = open(target);
    const instance = await requireInstance(ctx, ctx.name);
    const snapshots = await listSnapshots(ctx);
    const backups = snapshots.flatMap((s) => toBackupInfo(s) ?? []).sort((a, b) => Date.parse(a.consistentAt) - Date.parse(b.consistentAt));
    return { backups, pointInTime: await restorableRange(ctx, instance, snapshots) };
  }

  async function backup(target: DatabaseTarget, req: { backupId: string; kind: BackupInfo['kind']; critical: string[]; takenBy: string }): Promise<BackupInfo> {
    const ctx = open(target);
    if (req.kind !== 'snapshot') throw infrastructureMismatch(`RDS instance '${ctx.name}' takes snapshots, not ${req.kind} backups`);
    // req.critical is not read: RDS gives no row access without a connection, so the manifest is null.
    const id = snapshotIdFor(req.backupId);
    const existing = await findSnapshot(ctx, id);
    if (existing) {
      if ((existing.DBInstanceIdentifier ?? '').toLowerCase() !== ctx.name) {
        throw infrastructureMismatch(`RDS snapshot '${id}' exists but is of instance '${existing.DBInstanceIdentifier}', not '${ctx.name}'`);
      }
    } else {
      await waitAvailable(ctx, ctx.name, `RDS instance '${ctx.name}' to be available for a snapshot`);
      const tags = [
        { Key: BACKUP_TAG, Value: tagValue(req.backupId) },
        { Key: TAKEN_BY_TAG, Value: tagValue(req.takenBy) },
      ];
      await step(`creating RDS snapshot '${id}' of instance '${ctx.name}'`, async () => {
        try {
          await send(ctx.rds, new CreateDBSnapshotCommand({ DBInstanceIdentifier: ctx.name, DBSnapshotIdentifier: id, Tags: tags }));
        } catch (err) {
          if (!hasName(err, 'DBSnapshotAlreadyExistsFault')) throw err; // a concurrent attempt took it
        }
      });
    }
    const taken = await waitForSnapshot(ctx, id);
    const info = toBackupInfo(taken);
    if (!info) throw new Error(`RDS snapshot '${id}' of instance '${ctx.name}' is available but has no creation time`);
    return info;
  }

  async function verifyBackup(target: DatabaseTarget, backupId: string): Promise<VerificationResult> {
    const ctx = open(target);
    const result = (ok: boolean, detail: string): VerificationResult => ({ name: 'backup', kind: 'backup', ok, detail });
    const snapshot = await resolveSnapshot(ctx, backupId);
    if (!snapshot) return result(false, `no RDS snapshot for backup '${backupId}' in ${ctx.target.region}`);
    const id = snapshot.DBSnapshotIdentifier;
    const of = (snapshot.DBInstanceIdentifier ?? '').toLowerCase();
    if (of !== ctx.name) return result(false, `RDS snapshot '${id}' is of instance '${of}', not '${ctx.name}'`);
    if (snapshot.Status !== 'available') return result(false, `RDS snapshot '${id}' is ${snapshot.Status ?? 'in no status'}, not available`);
    return result(true, `RDS snapshot '${id}' (${snapshot.SnapshotType ?? 'unknown type'}, taken ${iso(snapshot.SnapshotCreateTime) ?? 'at an unknown time'}) is available`);
  }

  // ---------------------------------------------------------------- restore

  async function restore(target: DatabaseTarget, req: RestoreRequest): Promise<RestoredCopy> {
    const ctx = open(target);
    const copyId = copyInstanceId(ctx.name, req.restoreId);
    const pointInTime = req.pointInTime === null ? null : parsePointInTime(req.pointInTime);
    const source = tagValue(pointInTime === null ? `backup ${req.backupId}` : `point-in-time ${pointInTime}`);

    // A point-in-time restore replays from whichever automated backup RDS picks: req.backupId
    // (the plan's base backup) only matters for a snapshot restore (pointInTime null).
    // The copy, if an earlier attempt made it: under its own id, or under the name once switched.
    const atCopyId = await findInstance(ctx, copyId);
    if (atCopyId) assertCopyOf(atCopyId, req.restoreId);
    const named = atCopyId ? null : await findInstance(ctx, ctx.name);
    const existing = atCopyId ?? (named && isCopyOf(named, req.restoreId) ? named : null);
    if (existing) {
      const made = tagOf(existing.TagList, RESTORE_SOURCE_TAG);
      if (made !== source) {
        throw infrastructureMismatch(`restore '${req.restoreId}' already made RDS instance '${idOf(existing)}' from ${made ?? 'an unknown source'}; it cannot now restore ${source}`);
      }
      if (existing.DBInstanceStatus === 'deleting') throw infrastructureMismatch(`restore '${req.restoreId}''s copy '${idOf(existing)}' is being deleted`);
    } else if (pointInTime === null) {
      await restoreSnapshot(ctx, req, copyId, source, named);
    } else {
      await restorePointInTime(ctx, req, copyId, source, pointInTime, named);
    }
    const id = existing ? idOf(existing) : copyId;
    const copy = await waitAvailable(ctx, id, `restore '${req.restoreId}''s copy '${id}' to be available`);
    assertCopyOf(copy, req.restoreId); // a concurrent attempt, or someone else, may have taken the identifier
    return toCopy(copy);
  }

  async function restorePointInTime(ctx: Ctx, req: RestoreRequest, copyId: string, source: string, pointInTime: string, original: DBInstance | null): Promise<void> {
    // Real RDS can also restore a deleted instance's retained automated backups (SourceDbiResourceId): not done here.
    if (!original) throw infrastructureMismatch(`RDS instance '${ctx.name}' not found in ${ctx.target.region}: nothing to restore to a point in time`);
    const range = await restorableRange(ctx, original, await listSnapshots(ctx));
    if (!range) throw infrastructureMismatch(`RDS instance '${ctx.name}' cannot be restored to a point in time: its automated backups are off`);
    const at = Date.parse(pointInTime);
    if (at < Date.parse(range.earliest) || at > Date.parse(range.latest)) {
      throw infrastructureMismatch(`RDS instance '${ctx.name}' cannot be restored to ${pointInTime}: it reaches ${range.earliest} to ${range.latest}`);
    }
    await createCopy(ctx, `restoring RDS instance '${ctx.name}' to ${pointInTime} as '${copyId}'`, () =>
      send(
        ctx.rds,
        new RestoreDBInstanceToPointInTimeCommand({
          SourceDBInstanceIdentifier: ctx.name,
          TargetDBInstanceIdentifier: copyId,
          RestoreTime: new Date(at),
          ...settingsOf(original),
          Tags: copyTags(req.restoreId, source, pointInTime),
        }),
      ),
    );
  }

  async function restoreSnapshot(ctx: Ctx, req: RestoreRequest, copyId: string, source: string, original: DBInstance | null): Promise<void> {
    const snapshot = await resolveSnapshot(ctx, req.backupId);
    if (!snapshot) throw infrastructureMismatch(`no RDS snapshot for backup '${req.backupId}' in ${ctx.target.region}`);
    const id = snapshot.DBSnapshotIdentifier!;
    if (snapshot.Status !== 'available') throw infrastructureMismatch(`RDS snapshot '${id}' is ${snapshot.Status}, not available`);
    const takenAt = snapshotTime(snapshot);
    if (!takenAt) throw infrastructureMismatch(`RDS snapshot '${id}' has no creation time`);
    // With the original gone (a lost instance), RDS's defaults apply where its settings would have.
    await createCopy(ctx, `restoring RDS snapshot '${id}' as '${copyId}'`, () =>
      send(
        ctx.rds,
        new RestoreDBInstanceFromDBSnapshotCommand({
          DBSnapshotIdentifier: id,
          DBInstanceIdentifier: copyId,
          ...(original ? settingsOf(original) : { DeletionProtection: false }),
          Tags: copyTags(req.restoreId, source, takenAt),
        }),
      ),
    );
  }

  /** Starts a restore; one that finds the identifier taken leaves it to the caller's tag check. */
  async function createCopy(ctx: Ctx, what: string, call: () => Promise<unknown>): Promise<void> {
    await step(what, async () => {
      try {
        await call();
      } catch (err) {
        if (!hasName(err, 'DBInstanceAlreadyExistsFault')) throw err;
      }
    });
  }

  // ---------------------------------------------------------------- verify

  async function verify(target: DatabaseTarget, restoreId: string, spec: VerifySpec): Promise<VerificationResult[]> {
    const ctx = open(target);
    const results = [await checkAvailable(ctx, restoreId)];
    if (spec.manifest !== null) {
      results.push({
        name: 'manifest',
        kind: 'manifest',
        ok: false,
        detail: `RDS cannot read rows without a connection: the ${Object.keys(spec.manifest).length} critical table(s) were not compared`,
      });
    }
    // Fail-closed until SQL against RDS (over a connection) exists: an assertion that did not run is not ok.
    for (const a of spec.assertions) {
      results.push({ name: a.name, kind: 'assertion', ok: false, detail: 'not run: SQL against RDS needs a database connection, which Baton does not open yet' });
    }
    return results;
  }

  async function checkAvailable(ctx: Ctx, restoreId: string): Promise<VerificationResult> {
    const result = (ok: boolean, detail: string): VerificationResult => ({ name: 'available', kind: 'available', ok, detail });
    const copy = await findCopy(ctx, restoreId);
    if (!copy) return result(false, `restore '${restoreId}' has no copy (no RDS instance '${copyInstanceId(ctx.name, restoreId)}')`);
    const id = idOf(copy);
    if (copy.DBInstanceStatus !== 'available') return result(false, `RDS instance '${id}' is ${copy.DBInstanceStatus ?? 'in no status'}, not available`);
    // The source: the instance answering to the name, unless the copy does (switched): then the one it set aside.
    const named = await findInstance(ctx, ctx.name);
    let source = named && !isCopyOf(named, restoreId) ? named : null;
    const aside = tagOf(copy.TagList, SET_ASIDE_TAG);
    if (!source && aside) source = await findInstance(ctx, aside);
    const engine = `${copy.Engine} ${copy.EngineVersion ?? ''}`.trim();
    if (!source) return result(false, `RDS instance '${id}' is available (${engine}), but the source instance was not found to compare its engine with`);
    if (source.Engine !== copy.Engine) return result(false, `RDS instance '${id}' runs ${engine}, the source '${idOf(source)}' ${source.Engine}`);
    return result(true, `RDS instance '${id}' is available, ${engine} like the source '${idOf(source)}'`);
  }

  // ---------------------------------------------------------------- switch

  async function serving(target: DatabaseTarget, restoreId: string): Promise<SwitchState> {
    const ctx = open(target);
    return ctx.target.switch.type === 'rename' ? servingByName(ctx, restoreId) : servingByRecord(ctx, ctx.target.switch, restoreId);
  }

  /**
   * Which instance answers to the name. With none (a switch stopped between its two renames),
   * the state reads 'restored': 'original' promises the original answers to its name, and a
   * caller that sees anything else must switch back (or finish the switch), which converges.
   */
  async function servingByName(ctx: Ctx, restoreId: string): Promise<SwitchState> {
    const copyId = copyInstanceId(ctx.name, restoreId);
    const named = await findInstance(ctx, ctx.name);
    if (named && isCopyOf(named, restoreId)) {
      const aside = tagOf(named.TagList, SET_ASIDE_TAG) ?? null;
      return { serving: 'restored', setAside: aside, detail: `restore '${restoreId}''s copy answers to '${ctx.name}'; the original is kept as '${aside ?? 'nothing (there was none)'}'` };
    }
    if (named) return { serving: 'original', setAside: null, detail: `the original answers to '${ctx.name}' (restore '${restoreId}''s copy is '${copyId}')` };
    const copy = await findInstance(ctx, copyId);
    if (!copy || !isCopyOf(copy, restoreId)) throw infrastructureMismatch(`no RDS instance answers to '${ctx.name}', and restore '${restoreId}' has no copy '${copyId}'`);
    const aside = tagOf(copy.TagList, SET_ASIDE_TAG) ?? null;
    const why = aside
      ? `a switch stopped between its renames (the copy is '${copyId}', the original '${aside}'); switchTo or switchBack finishes it`
      : `the original is gone and no switch has begun (the copy is '${copyId}'); switchTo gives the copy the name`;
    return { serving: 'restored', setAside: aside, detail: `no RDS instance answers to '${ctx.name}': ${why}` };
  }

  async function servingByRecord(ctx: Ctx, sw: Route53Switch, restoreId: string): Promise<SwitchState> {
    const record = await readCname(ctx, sw);
    const where = `Route 53 record '${absolute(sw.recordName)}'`;
    if (record === null) throw infrastructureMismatch(`${where} (CNAME) not found in hosted zone '${sw.hostedZoneId}'`);
    const copy = await findCopy(ctx, restoreId);
    if (copy && pointsTo(record, copy)) return { serving: 'restored', setAside: ctx.name, detail: `${where} points to restore '${restoreId}''s copy '${idOf(copy)}' (${record})` };
    const original = await findInstance(ctx, ctx.name);
    if (original && pointsTo(record, original)) return { serving: 'original', setAside: null, detail: `${where} points to the original '${ctx.name}' (${record})` };
    throw infrastructureMismatch(`${where} points to ${record}, neither the original '${ctx.name}' nor restore '${restoreId}''s copy`);
  }

  async function switchTo(target: DatabaseTarget, restoreId: string, setAside: string): Promise<SwitchState> {
    const ctx = open(target);
    if (ctx.target.switch.type === 'route53') return switchRecordTo(ctx, ctx.target.switch, restoreId);
    const aside = setAside.toLowerCase();
    const copyId = copyInstanceId(ctx.name, restoreId);
    if (!isInstanceId(aside)) {
      throw new RangeError(`'${setAside}' is not an RDS instance identifier (a letter, then letters, digits and single hyphens, at most 63)`);
    }
    if (aside === ctx.name || aside === copyId) throw new RangeError(`the original cannot be set aside as '${setAside}': that is the services' name or the copy's`);
    return converge(ctx, `switching '${ctx.name}' to restore '${restoreId}''s copy`, async () => {
      const named = await findInstance(ctx, ctx.name);
      if (named && isCopyOf(named, restoreId)) return servingByName(ctx, restoreId);
      const copy = await findInstance(ctx, copyId);
      if (!copy || !isCopyOf(copy, restoreId)) throw infrastructureMismatch(`restore '${restoreId}' has no copy '${copyId}' to switch to`);
      if (named) {
        // The original still answers to the name: record where it goes, then put it there.
        if (await findInstance(ctx, aside)) throw infrastructureMismatch(`cannot set '${ctx.name}' aside as '${aside}': an RDS instance with that name exists`);
        await addTags(ctx, copy, { [SET_ASIDE_TAG]: aside });
        await addTags(ctx, named, { [SET_ASIDE_BY_TAG]: tagValue(restoreId) });
        await rename(ctx, ctx.name, aside);
      } else {
        // The name is free: the original is aside (or was lost). Give the copy the name.
        await rename(ctx, copyId, ctx.name);
      }
      return null;
    });
  }

  async function switchBack(target: DatabaseTarget, restoreId: string, setAside: string): Promise<SwitchState> {
    const ctx = open(target);
    if (ctx.target.switch.type === 'route53') return switchRecordBack(ctx, ctx.target.switch, restoreId);
    const copyId = copyInstanceId(ctx.name, restoreId);
    return converge(ctx, `switching '${ctx.name}' back from restore '${restoreId}''s copy`, async () => {
      const named = await findInstance(ctx, ctx.name);
      if (named && !isCopyOf(named, restoreId)) {
        await removeTag(ctx, named, SET_ASIDE_BY_TAG);
        return servingByName(ctx, restoreId);
      }
      // The copy's tag says where the switch put the original; the caller's setAside is the fallback.
      const copy = named ?? (await findInstance(ctx, copyId));
      const aside = (copy && isCopyOf(copy, restoreId) ? tagOf(copy.TagList, SET_ASIDE_TAG) : undefined) ?? setAside.toLowerCase();
      // Nothing moves unless the original is there to take the name back (a lost original leaves the copy serving).
      if (!(await findInstance(ctx, aside))) throw infrastructureMismatch(`cannot switch '${ctx.name}' back: the original is not at '${aside}'`);
      if (named) await rename(ctx, ctx.name, copyId); // the copy answers to the name: give it its own back
      else await rename(ctx, aside, ctx.name);
      return null;
    });
  }

  /** Observes and acts until `round` reports the state it wanted; two renames at most, so a few rounds suffice. */
  async function converge(ctx: Ctx, what: string, round: () => Promise<SwitchState | null>): Promise<SwitchState> {
    for (let i = 0; i < 4; i++) {
      const done = await round();
      if (done) return done;
    }
    throw new Error(`${what}: did not converge after 4 rounds (someone else is renaming these instances?)`);
  }

  async function switchRecordTo(ctx: Ctx, sw: Route53Switch, restoreId: string): Promise<SwitchState> {
    const copy = await requireCopy(ctx, restoreId);
    const record = await readCname(ctx, sw);
    const where = `Route 53 record '${absolute(sw.recordName)}'`;
    if (record === null) throw infrastructureMismatch(`${where} (CNAME) not found in hosted zone '${sw.hostedZoneId}'`);
    if (!pointsTo(record, copy)) {
      const original = await findInstance(ctx, ctx.name);
      // A record pointing elsewhere is not one this switch can undo: refuse rather than guess.
      if (original && !pointsTo(record, original)) {
        throw infrastructureMismatch(`${where} points to ${record}, not to the original '${ctx.name}' (${endpointOf(original)}): refusing to repoint it`);
      }
      await addTags(ctx, copy, { [SET_ASIDE_TAG]: ctx.name });
      if (original) await addTags(ctx, original, { [SET_ASIDE_BY_TAG]: tagValue(restoreId) });
      await upsertCname(ctx, sw, endpointOf(copy));
    }
    return servingByRecord(ctx, sw, restoreId);
  }

  async function switchRecordBack(ctx: Ctx, sw: Route53Switch, restoreId: string): Promise<SwitchState> {
    const original = await waitAvailable(ctx, ctx.name, `the original '${ctx.name}' to be available`);
    const record = await readCname(ctx, sw);
    if (record === null || !pointsTo(record, original)) await upsertCname(ctx, sw, endpointOf(original));
    await removeTag(ctx, original, SET_ASIDE_BY_TAG);
    return servingByRecord(ctx, sw, restoreId);
  }

  // ---------------------------------------------------------------- cleanup

  async function dropCopy(target: DatabaseTarget, restoreId: string): Promise<void> {
    const ctx = open(target);
    const copyId = copyInstanceId(ctx.name, restoreId);
    const named = await findInstance(ctx, ctx.name);
    if (ctx.target.switch.type === 'rename' && named && isCopyOf(named, restoreId)) {
      throw infrastructureMismatch(`refusing to delete restore '${restoreId}''s copy: it answers to '${ctx.name}' (switch back first)`);
    }
    const copy = await findInstance(ctx, copyId);
    if (!copy || copy.DBInstanceStatus === 'deleting') return;
    assertCopyOf(copy, restoreId);
    if (ctx.target.switch.type === 'rename' && !named) {
      // A switch stopped half-way, or the original is gone: the copy may be the only instance with the data.
      throw infrastructureMismatch(`refusing to delete restore '${restoreId}''s copy '${copyId}': no RDS instance answers to '${ctx.name}' (a switch stopped half-way? switch back first)`);
    }
    if (ctx.target.switch.type === 'route53') {
      const record = await readCname(ctx, ctx.target.switch);
      if (record !== null && pointsTo(record, copy)) {
        throw infrastructureMismatch(`refusing to delete restore '${restoreId}''s copy '${copyId}': Route 53 record '${absolute(ctx.target.switch.recordName)}' points to it (switch back first)`);
      }
    }
    await deleteInstance(ctx, copyId, null);
  }

  async function dropSetAside(target: DatabaseTarget, setAside: string): Promise<void> {
    const ctx = open(target);
    const aside = setAside.toLowerCase();
    if (ctx.target.switch.type === 'rename' && aside === ctx.name) {
      throw infrastructureMismatch(`refusing to delete '${aside}': it is the name the services use`);
    }
    const instance = await findInstance(ctx, aside);
    if (!instance || instance.DBInstanceStatus === 'deleting') return;
    if (ctx.target.switch.type === 'route53') {
      const record = await readCname(ctx, ctx.target.switch);
      if (record !== null && pointsTo(record, instance)) {
        throw infrastructureMismatch(`refusing to delete '${aside}': Route 53 record '${absolute(ctx.target.switch.recordName)}' points to it`);
      }
    }
    if (!tagOf(instance.TagList, SET_ASIDE_BY_TAG)) {
      throw infrastructureMismatch(`refusing to delete RDS instance '${aside}': no restore set it aside (it has no ${SET_ASIDE_BY_TAG} tag)`);
    }
    // The set-aside original is the last copy of the data before the restore: it goes with a final snapshot.
    await deleteInstance(ctx, aside, `${aside}-final`);
  }

  // ---------------------------------------------------------------- reading and writing instances

  async function findInstance(ctx: Ctx, id: string): Promise<DBInstance | null> {
    return step(`describing RDS instance '${id}' in ${ctx.target.region}`, async () => {
      try {
        const out = await send(ctx.rds, new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }));
        return out.DBInstances?.find((i) => idOf(i) === id.toLowerCase()) ?? null;
      } catch (err) {
        if (isInstanceNotFound(err)) return null;
        throw err;
      }
    });
  }

  async function requireInstance(ctx: Ctx, id: string): Promise<DBInstance> {
    const instance = await findInstance(ctx, id);
    if (!instance) throw infrastructureMismatch(`RDS instance '${id}' not found in ${ctx.target.region}`);
    return instance;
  }

  /** The restore's copy: under its own identifier, or under the services' name once a rename switch gave it that. */
  async function findCopy(ctx: Ctx, restoreId: string): Promise<DBInstance | null> {
    const copy = await findInstance(ctx, copyInstanceId(ctx.name, restoreId));
    if (copy) return isCopyOf(copy, restoreId) ? copy : null;
    const named = await findInstance(ctx, ctx.name);
    return named && isCopyOf(named, restoreId) ? named : null;
  }

  async function requireCopy(ctx: Ctx, restoreId: string): Promise<DBInstance> {
    const copyId = copyInstanceId(ctx.name, restoreId);
    const copy = await findInstance(ctx, copyId);
    if (!copy) throw infrastructureMismatch(`restore '${restoreId}' has no copy '${copyId}'`);
    assertCopyOf(copy, restoreId);
    return waitAvailable(ctx, copyId, `restore '${restoreId}''s copy '${copyId}' to be available`);
  }

  function assertCopyOf(instance: DBInstance, restoreId: string): void {
    if (!isCopyOf(instance, restoreId)) {
      const tag = tagOf(instance.TagList, RESTORE_TAG);
      throw infrastructureMismatch(`RDS instance '${idOf(instance)}' exists but is not restore '${restoreId}''s copy (${RESTORE_TAG}: ${tag ?? 'none'})`);
    }
  }

  async function waitAvailable(ctx: Ctx, id: string, what: string): Promise<DBInstance> {
    return waitUntil<DBInstance>(ctx, what, async () => {
      const instance = await findInstance(ctx, id);
      if (!instance) throw infrastructureMismatch(`RDS instance '${id}' not found in ${ctx.target.region} (waiting for ${what})`);
      if (instance.DBInstanceStatus === 'available') return { done: instance };
      assertNotStuck(instance);
      return { status: `'${instance.DBInstanceStatus}'` };
    });
  }

  /**
   * Renames an instance and waits until the new name answers and the old one is free. An
   * instance that is gone from `from` before the rename starts was moved by an earlier
   * attempt: the caller's next round sees where it is.
   */
  async function rename(ctx: Ctx, from: string, to: string): Promise<void> {
    const ready = await waitUntil<DBInstance | null>(ctx, `RDS instance '${from}' to be available to rename it '${to}'`, async () => {
      const instance = await findInstance(ctx, from);
      if (!instance) return { done: null };
      if (instance.DBInstanceStatus === 'available') return { done: instance };
      assertNotStuck(instance);
      return { status: `'${instance.DBInstanceStatus}'` };
    });
    if (!ready) return;
    if (await findInstance(ctx, to)) throw infrastructureMismatch(`cannot rename RDS instance '${from}' to '${to}': an instance with that name exists`);
    await step(`renaming RDS instance '${from}' to '${to}'`, () =>
      send(ctx.rds, new ModifyDBInstanceCommand({ DBInstanceIdentifier: from, NewDBInstanceIdentifier: to, ApplyImmediately: true })),
    );
    await waitUntil(ctx, `the rename of RDS instance '${from}' to '${to}'`, async () => {
      const [before, after] = await Promise.all([findInstance(ctx, from), findInstance(ctx, to)]);
      if (!before && after?.DBInstanceStatus === 'available') return { done: after };
      if (after) assertNotStuck(after);
      return { status: after ? `'${after.DBInstanceStatus}' as '${to}'` : `'${before?.DBInstanceStatus ?? 'gone'}' as '${from}'` };
    });
  }

  async function addTags(ctx: Ctx, instance: DBInstance, tags: Record<string, string>): Promise<void> {
    const missing = Object.entries(tags).filter(([k, v]) => tagOf(instance.TagList, k) !== v);
    if (missing.length === 0) return;
    await step(`tagging RDS instance '${idOf(instance)}'`, () =>
      send(ctx.rds, new AddTagsToResourceCommand({ ResourceName: instance.DBInstanceArn, Tags: missing.map(([Key, Value]) => ({ Key, Value })) })),
    );
  }

  async function removeTag(ctx: Ctx, instance: DBInstance, key: string): Promise<void> {
    if (tagOf(instance.TagList, key) === undefined) return;
    await step(`untagging RDS instance '${idOf(instance)}'`, () =>
      send(ctx.rds, new RemoveTagsFromResourceCommand({ ResourceName: instance.DBInstanceArn, TagKeys: [key] })),
    );
  }

  /** Deletes an instance (with a final snapshot if named); gone or already deleting counts as done. */
  async function deleteInstance(ctx: Ctx, id: string, finalSnapshot: string | null): Promise<void> {
    // A final snapshot left by an earlier attempt is kept; a second one cannot take its name.
    const final = finalSnapshot && !(await findSnapshot(ctx, finalSnapshot)) ? finalSnapshot : null;
    await step(`deleting RDS instance '${id}'`, async () => {
      try {
        await send(
          ctx.rds,
          new DeleteDBInstanceCommand(
            final ? { DBInstanceIdentifier: id, FinalDBSnapshotIdentifier: final } : { DBInstanceIdentifier: id, SkipFinalSnapshot: true },
          ),
        );
      } catch (err) {
        if (isInstanceNotFound(err)) return;
        if (!hasName(err, 'InvalidDBInstanceStateFault')) throw err;
        const now = await findInstance(ctx, id); // refused while already deleting: done
        if (now && now.DBInstanceStatus !== 'deleting') throw err;
      }
    });
    const left = await findInstance(ctx, id);
    if (left && left.DBInstanceStatus !== 'deleting') throw new Error(`RDS instance '${id}' is still ${left.DBInstanceStatus} after its deletion`);
  }

  // ---------------------------------------------------------------- snapshots

  async function findSnapshot(ctx: Ctx, id: string): Promise<DBSnapshot | null> {
    return step(`describing RDS snapshot '${id}' in ${ctx.target.region}`, async () => {
      try {
        const out = await send(ctx.rds, new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: id }));
        return out.DBSnapshots?.find((s) => s.DBSnapshotIdentifier?.toLowerCase() === id.toLowerCase()) ?? null;
      } catch (err) {
        if (hasName(err, 'DBSnapshotNotFoundFault')) return null;
        throw err;
      }
    });
  }

  /** The snapshot a backup id names: a listed id as it is (automated ones are `rds:...`), or the one backup() takes for it. */
  async function resolveSnapshot(ctx: Ctx, backupId: string): Promise<DBSnapshot | null> {
    const listed = backupId.toLowerCase();
    if (/^(rds:)?[a-z](?:[a-z0-9]|-(?!-))*$/.test(listed)) {
      const found = await findSnapshot(ctx, listed);
      if (found) return found;
    }
    const taken = snapshotIdFor(backupId);
    return taken === listed ? null : findSnapshot(ctx, taken);
  }

  /** Automated and manual snapshots of the instance (DescribeDBSnapshots lists both without a SnapshotType). */
  async function listSnapshots(ctx: Ctx): Promise<DBSnapshot[]> {
    const found: DBSnapshot[] = [];
    let marker: string | undefined;
    do {
      const page = await step(`listing the snapshots of RDS instance '${ctx.name}'`, () =>
        send(ctx.rds, new DescribeDBSnapshotsCommand({ DBInstanceIdentifier: ctx.name, Marker: marker })),
      );
      found.push(...(page.DBSnapshots ?? []));
      marker = page.Marker;
    } while (marker);
    return found;
  }

  async function waitForSnapshot(ctx: Ctx, id: string): Promise<DBSnapshot> {
    return waitUntil<DBSnapshot>(ctx, `RDS snapshot '${id}' of instance '${ctx.name}' to be available`, async () => {
      const snapshot = await findSnapshot(ctx, id);
      if (!snapshot) throw infrastructureMismatch(`RDS snapshot '${id}' of instance '${ctx.name}' disappeared while being taken`);
      if (snapshot.Status === 'available') return { done: snapshot };
      if (snapshot.Status === 'failed' || snapshot.Status === 'deleting') throw infrastructureMismatch(`RDS snapshot '${id}' of instance '${ctx.name}' is ${snapshot.Status}`);
      return { status: `'${snapshot.Status}'` };
    });
  }

  /**
   * The instants a point-in-time restore reaches. Latest: the instance's LatestRestorableTime.
   * Earliest: the later of RDS's RestoreWindow (DescribeDBInstanceAutomatedBackups; moto has
   * none) and the oldest automated snapshot, so every instant in range has a replayable backup
   * at or before it. Null with automated backups off.
   */
  async function restorableRange(ctx: Ctx, instance: DBInstance, snapshots: DBSnapshot[]): Promise<Inventory['pointInTime']> {
    if (!instance.BackupRetentionPeriod || !instance.LatestRestorableTime) return null;
    const oldest = snapshots
      .filter((s) => s.SnapshotType === 'automated' && s.Status === 'available')
      .flatMap((s) => snapshotTime(s) ?? [])
      .sort()[0];
    const window = await automatedRestoreWindow(ctx);
    const starts = [oldest, window].filter((t): t is string => t !== undefined).map((t) => Date.parse(t));
    if (starts.length === 0) return null;
    const earliest = Math.max(...starts);
    const latest = instance.LatestRestorableTime.getTime();
    return earliest <= latest ? { earliest: new Date(earliest).toISOString(), latest: new Date(latest).toISOString() } : null;
  }

  async function automatedRestoreWindow(ctx: Ctx): Promise<string | undefined> {
    return step(`reading the automated backups of RDS instance '${ctx.name}'`, async () => {
      try {
        const out = await send(ctx.rds, new DescribeDBInstanceAutomatedBackupsCommand({ DBInstanceIdentifier: ctx.name }));
        const active = out.DBInstanceAutomatedBackups?.find((b) => b.DBInstanceIdentifier?.toLowerCase() === ctx.name && b.Status === 'active');
        return iso(active?.RestoreWindow?.EarliestTime) ?? undefined;
      } catch (err) {
        if (hasName(err, 'DBInstanceAutomatedBackupNotFoundFault')) return undefined;
        throw err;
      }
    });
  }

  // ---------------------------------------------------------------- Route 53

  async function readCname(ctx: Ctx, sw: Route53Switch): Promise<string | null> {
    const name = absolute(sw.recordName);
    const out = await step(`reading Route 53 record '${name}'`, () =>
      orMismatch(
        () => send(ctx.route53, new ListResourceRecordSetsCommand({ HostedZoneId: sw.hostedZoneId, StartRecordName: name, StartRecordType: 'CNAME', MaxItems: 10 })),
        { NoSuchHostedZone: `Route 53 hosted zone '${sw.hostedZoneId}' not found` },
      ),
    );
    const sets = (out.ResourceRecordSets ?? []).filter((r) => r.Type === 'CNAME' && sameName(r.Name ?? '', name));
    if (sets.some((r) => r.SetIdentifier !== undefined)) {
      throw infrastructureMismatch(`Route 53 record '${name}' is a weighted (or other routing policy) record: an RDS switch needs one simple CNAME`);
    }
    return sets[0]?.ResourceRecords?.[0]?.Value ?? null;
  }

  /** Points the record at `address` and waits until Route 53 reports the change INSYNC; resolvers may keep the old answer for the TTL after. */
  async function upsertCname(ctx: Ctx, sw: Route53Switch, address: string): Promise<void> {
    const name = absolute(sw.recordName);
    const out = await step(`pointing Route 53 record '${name}' to ${address}`, () =>
      send(
        ctx.route53,
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: sw.hostedZoneId,
          ChangeBatch: {
            Comment: `baton: ${ctx.name} database -> ${address}`,
            Changes: [{ Action: 'UPSERT', ResourceRecordSet: { Name: name, Type: 'CNAME', TTL: sw.ttl, ResourceRecords: [{ Value: address }] } }],
          },
        }),
      ),
    );
    const changeId = out.ChangeInfo?.Id;
    if (changeId) {
      await waitUntil(ctx, `Route 53 change ${changeId} (record '${name}') to be INSYNC`, async () => {
        const change = await step(`reading Route 53 change ${changeId}`, () => send(ctx.route53, new GetChangeCommand({ Id: changeId })));
        return change.ChangeInfo?.Status === 'INSYNC' ? { done: true } : { status: `'${change.ChangeInfo?.Status}'` };
      });
    }
    const now = await readCname(ctx, sw);
    if (now === null || !sameName(now, address)) throw new Error(`Route 53 record '${name}' reads ${now ?? 'nothing'} after pointing it to ${address}`);
  }

  // ---------------------------------------------------------------- waiting

  /** Observes until `observe` is done, every pollMs, for at most waitTimeoutMs; the sleep ends early when the caller is cancelled. */
  async function waitUntil<T>(ctx: Ctx, what: string, observe: () => Promise<{ done: T } | { status: string }>): Promise<T> {
    const deadline = Date.now() + ctx.waitTimeoutMs;
    for (;;) {
      const seen = await observe();
      if ('done' in seen) return seen.done;
      if (Date.now() + ctx.pollMs > deadline) {
        throw new Error(`waiting for ${what}: still ${seen.status} after ${Math.round(ctx.waitTimeoutMs / 1000)} s (safe to repeat)`);
      }
      await sleep(ctx.pollMs, undefined, { signal: currentAbortSignal() });
    }
  }

  return { inventory, backup, verifyBackup, restore, verify, serving, switchTo, switchBack, dropCopy, dropSetAside };
}

type Route53Switch = Extract<RdsTarget['switch'], { type: 'route53' }>;

function parsePointInTime(value: string): string {
  const ms = parseInstant(value);
  if (ms === null) throw new RangeError(`pointInTime '${value}' is not an ISO instant with a zone`);
  return new Date(ms).toISOString();
}

/** When a snapshot's data is consistent: its original creation time (kept by copies), else its own. */
function snapshotTime(s: DBSnapshot): string | null {
  return iso(s.OriginalSnapshotCreateTime ?? s.SnapshotCreateTime);
}

/** A snapshot as a backup; null for one still being taken that has no creation time yet. */
function toBackupInfo(s: DBSnapshot): BackupInfo | null {
  const consistentAt = snapshotTime(s);
  if (!s.DBSnapshotIdentifier || !consistentAt) return null;
  const automated = s.SnapshotType === 'automated';
  return {
    id: s.DBSnapshotIdentifier,
    kind: 'snapshot',
    consistentAt,
    // Point-in-time restores replay the log from the automated backups; a manual snapshot restores as taken.
    replayable: automated,
    // RDS reports the instance's allocated storage, not the snapshot's size.
    sizeBytes: null,
    manifest: null,
    verified: { ok: s.Status === 'available', detail: `snapshot status ${s.Status ?? 'unknown'}` },
    takenBy: automated ? 'schedule' : (tagOf(s.TagList, TAKEN_BY_TAG) ?? null),
  };
}

/** The original's settings a restored copy should share (RDS otherwise applies its defaults: default security group, parameter group, ...). */
function settingsOf(original: DBInstance) {
  const parameterGroup = original.DBParameterGroups?.[0]?.DBParameterGroupName;
  const optionGroup = original.OptionGroupMemberships?.[0]?.OptionGroupName;
  const securityGroups = (original.VpcSecurityGroups ?? []).flatMap((g) => g.VpcSecurityGroupId ?? []);
  return {
    DBInstanceClass: original.DBInstanceClass,
    DBSubnetGroupName: original.DBSubnetGroup?.DBSubnetGroupName,
    VpcSecurityGroupIds: securityGroups.length > 0 ? securityGroups : undefined,
    // The engine's default groups are what RDS picks anyway; naming them is refused by moto.
    DBParameterGroupName: parameterGroup && !parameterGroup.startsWith('default.') ? parameterGroup : undefined,
    OptionGroupName: optionGroup && !optionGroup.startsWith('default:') ? optionGroup : undefined,
    MultiAZ: original.MultiAZ,
    PubliclyAccessible: original.PubliclyAccessible,
    StorageType: original.StorageType,
    Iops: original.Iops,
    Port: original.Endpoint?.Port ?? original.DbInstancePort,
    // A copy that takes over must keep taking backups, or it cannot itself be restored to a point in time.
    BackupRetentionPeriod: original.BackupRetentionPeriod,
    EnableIAMDatabaseAuthentication: original.IAMDatabaseAuthenticationEnabled,
    CopyTagsToSnapshot: original.CopyTagsToSnapshot,
    // Copies are dropped by dropCopy; the original's deletion protection is not carried over.
    DeletionProtection: false,
  };
}

function copyTags(restoreId: string, source: string, restoredTo: string): Tag[] {
  return [
    { Key: RESTORE_TAG, Value: tagValue(restoreId) },
    { Key: RESTORE_SOURCE_TAG, Value: source },
    { Key: RESTORED_TO_TAG, Value: restoredTo },
  ];
}

function toCopy(instance: DBInstance): RestoredCopy {
  const address = instance.Endpoint?.Address;
  const port = instance.Endpoint?.Port ?? instance.DbInstancePort;
  const url = address ? (port ? `${address}:${port}` : address) : null;
  return { name: idOf(instance), url, lastCommitAt: tagOf(instance.TagList, RESTORED_TO_TAG) ?? null };
}

function assertNotStuck(instance: DBInstance): void {
  const status = instance.DBInstanceStatus ?? '';
  if (STUCK_STATUSES.has(status)) throw infrastructureMismatch(`RDS instance '${idOf(instance)}' is ${status}: it will not become available by itself`);
}

function endpointOf(instance: DBInstance): string {
  const address = instance.Endpoint?.Address;
  if (!address) throw infrastructureMismatch(`RDS instance '${idOf(instance)}' has no endpoint yet (${instance.DBInstanceStatus})`);
  return address;
}

function pointsTo(recordValue: string, instance: DBInstance): boolean {
  const address = instance.Endpoint?.Address;
  return address !== undefined && sameName(recordValue, address);
}

function absolute(name: string): string {
  return name.endsWith('.') ? name : `${name}.`;
}

/** DNS names compare without case and without the trailing dot. */
function sameName(a: string, b: string): boolean {
  return absolute(a).toLowerCase() === absolute(b).toLowerCase();
}
