import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateDBInstanceCommand,
  DescribeDBInstancesCommand,
  DescribeDBSnapshotsCommand,
  ModifyDBInstanceCommand,
  StopDBInstanceCommand,
  type DBInstance,
  type RDSClient,
} from '@aws-sdk/client-rds';
import { ChangeResourceRecordSetsCommand, CreateHostedZoneCommand, ListResourceRecordSetsCommand, type Route53Client } from '@aws-sdk/client-route-53';
import type { NodeHttpHandler } from '@smithy/node-http-handler';
import { startMoto } from '../harness/servers';
import { motoClients, type MotoServer } from '../harness/aws';
import { copyInstanceId, createRdsDatabases, RESTORE_TAG, SET_ASIDE_BY_TAG, snapshotIdFor } from '../../src/providers/rds';
import type { DatabaseProvider, PostgresTarget, RdsTarget } from '../../src/providers/database';
import { ErrorType } from '../../src/domain/errors';
import { AWS_MAX_ATTEMPTS, AWS_REQUEST_TIMEOUT_MS, createAwsClients } from '../../src/providers/aws';

const REGION = 'us-east-1';
const NO_CHECKS = { manifest: null, assertions: [] };

describe('RDS databases on moto', () => {
  let moto: MotoServer;
  let rds: RDSClient;
  let route53: Route53Client;
  let db: DatabaseProvider;

  beforeAll(async () => {
    moto = await startMoto();
    const aws = motoClients(moto);
    rds = aws.rds(REGION);
    route53 = aws.route53(REGION);
    db = createRdsDatabases(aws, { pollMs: 10, waitTimeoutMs: 5_000 });
  });
  afterAll(async () => {
    await moto?.stop();
  });

  /** A PostgreSQL instance with automated backups (moto takes its first automated snapshot at creation). */
  async function createSource(instanceId: string, sw: RdsTarget['switch'] = { type: 'rename' }): Promise<RdsTarget> {
    await rds.send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: instanceId,
        DBInstanceClass: 'db.t3.micro',
        Engine: 'postgres',
        EngineVersion: '16.3',
        MasterUsername: 'baton',
        MasterUserPassword: 'not-a-secret',
        AllocatedStorage: 20,
        BackupRetentionPeriod: 7,
      }),
    );
    return { kind: 'rds', region: REGION, instanceId, switch: sw };
  }

  async function instance(id: string): Promise<DBInstance | null> {
    const out = await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id })).catch((err: Error) => {
      if (err.name === 'DBInstanceNotFoundFault') return null;
      throw err;
    });
    return out?.DBInstances?.[0] ?? null;
  }

  async function instanceIds(): Promise<string[]> {
    const out = await rds.send(new DescribeDBInstancesCommand({}));
    return (out.DBInstances ?? []).map((i) => i.DBInstanceIdentifier!).sort();
  }

  const tag = (i: DBInstance | null, key: string) => i?.TagList?.find((t) => t.Key === key)?.Value;

  async function latestRestorable(target: RdsTarget): Promise<string> {
    const inv = await db.inventory(target);
    if (!inv.pointInTime) throw new Error('no point-in-time range');
    return inv.pointInTime.latest;
  }

  it('lists the automated and manual snapshots and the range a point-in-time restore reaches', async () => {
    const target = await createSource('inventory-db');
    const taken = await db.backup(target, { backupId: 'nightly-1', kind: 'snapshot', critical: ['orders'], takenBy: 'alice@example.com' });
    expect(taken).toMatchObject({ id: 'nightly-1', kind: 'snapshot', replayable: false, manifest: null, takenBy: 'alice@example.com', verified: { ok: true } });

    const inv = await db.inventory(target);
    const automated = inv.backups.find((b) => b.id.startsWith('rds:inventory-db-'));
    expect(automated).toMatchObject({ kind: 'snapshot', replayable: true, takenBy: 'schedule', verified: { ok: true, detail: 'snapshot status available' } });
    expect(inv.backups.map((b) => b.id)).toEqual([automated!.id, 'nightly-1']); // oldest first
    expect(inv.pointInTime).not.toBeNull();
    // moto offers no RestoreWindow: the range starts at the oldest automated snapshot and ends at LatestRestorableTime (now).
    expect(inv.pointInTime!.earliest).toBe(automated!.consistentAt);
    expect(Date.parse(inv.pointInTime!.latest)).toBeGreaterThanOrEqual(Date.parse(taken.consistentAt));
  });

  it('takes a backup once per id, and verifies the snapshot it took', async () => {
    const target = await createSource('backup-db');
    const req = { backupId: 'Backup 2026/11 #1', kind: 'snapshot' as const, critical: [], takenBy: 'schedule (drill)' };
    const first = await db.backup(target, req);
    const again = await db.backup(target, req);
    expect(first.id).toBe(snapshotIdFor(req.backupId));
    expect(first.id).toMatch(/^backup-2026-11-1-[0-9a-f]{8}$/);
    expect(again).toEqual(first);
    const snapshots = await rds.send(new DescribeDBSnapshotsCommand({ DBInstanceIdentifier: 'backup-db', SnapshotType: 'manual' }));
    expect(snapshots.DBSnapshots).toHaveLength(1);

    expect(await db.verifyBackup(target, req.backupId)).toMatchObject({ kind: 'backup', ok: true });
    expect(await db.verifyBackup(target, first.id)).toMatchObject({ kind: 'backup', ok: true });
    expect(await db.verifyBackup(target, 'never-taken')).toMatchObject({ kind: 'backup', ok: false, detail: expect.stringContaining('never-taken') });
    await expect(db.backup(target, { ...req, kind: 'logical' })).rejects.toMatchObject({ name: ErrorType.InfrastructureMismatch });
  });

  it('restores to a point in time into a new instance tagged with the restore, and a repeat reuses it', async () => {
    const target = await createSource('pitr-db');
    const pointInTime = await latestRestorable(target);
    const req = { restoreId: 'restore-pitr-1', backupId: 'rds:pitr-db', pointInTime };

    const copy = await db.restore(target, req);
    const copyId = copyInstanceId('pitr-db', req.restoreId);
    expect(copy).toEqual({ name: copyId, url: `${copyId}.aaaaaaaaaa.${REGION}.rds.amazonaws.com:5432`, lastCommitAt: pointInTime });
    const made = await instance(copyId);
    expect(tag(made, RESTORE_TAG)).toBe(req.restoreId);
    expect(made).toMatchObject({ DBInstanceClass: 'db.t3.micro', Engine: 'postgres', BackupRetentionPeriod: 7 });

    const before = await instanceIds();
    expect(await db.restore(target, req)).toEqual(copy);
    expect(await instanceIds()).toEqual(before);

    // The same restore cannot be asked for another instant; no restore reaches before the first backup.
    await expect(db.restore(target, { ...req, pointInTime: new Date(Date.parse(pointInTime) - 1000).toISOString() })).rejects.toMatchObject({
      name: ErrorType.InfrastructureMismatch,
      message: expect.stringContaining('already made'),
    });
    const tooEarly = new Date(Date.parse((await db.inventory(target)).pointInTime!.earliest) - 3_600_000).toISOString();
    await expect(db.restore(target, { ...req, restoreId: 'restore-pitr-2', pointInTime: tooEarly })).rejects.toMatchObject({
      name: ErrorType.InfrastructureMismatch,
      message: expect.stringContaining('cannot be restored to'),
    });
  });

  it('restores a snapshot as it was taken', async () => {
    const target = await createSource('snap-db');
    const backup = await db.backup(target, { backupId: 'before-migration', kind: 'snapshot', critical: [], takenBy: 'bob' });
    const copy = await db.restore(target, { restoreId: 'restore-snap-1', backupId: 'before-migration', pointInTime: null });
    expect(copy).toMatchObject({ name: copyInstanceId('snap-db', 'restore-snap-1'), lastCommitAt: backup.consistentAt });
    expect(tag(await instance(copy.name), RESTORE_TAG)).toBe('restore-snap-1');
    await expect(db.restore(target, { restoreId: 'restore-snap-2', backupId: 'no-such-backup', pointInTime: null })).rejects.toMatchObject({
      name: ErrorType.InfrastructureMismatch,
    });
  });

  it('verifies that the copy is available with the source engine, and fails closed on what needs rows', async () => {
    const target = await createSource('verify-db');
    await db.restore(target, { restoreId: 'restore-verify', backupId: 'x', pointInTime: await latestRestorable(target) });

    expect(await db.verify(target, 'restore-verify', NO_CHECKS)).toEqual([
      { name: 'available', kind: 'available', ok: true, detail: expect.stringContaining('postgres 16.3 like the source') },
    ]);
    const results = await db.verify(target, 'restore-verify', {
      manifest: { orders: { rows: 10, checksum: null } },
      assertions: [{ name: 'recent orders', sql: 'select count(*) > 0 from orders' }],
    });
    expect(results.map((r) => [r.kind, r.ok])).toEqual([
      ['available', true],
      ['manifest', false],
      ['assertion', false],
    ]);
    expect(results[1].detail).toContain('RDS cannot read rows without a connection');
    expect(await db.verify(target, 'never-restored', NO_CHECKS)).toMatchObject([{ kind: 'available', ok: false }]);
  });

  describe('switching by renaming', () => {
    it('gives the copy the name and sets the original aside; again changes nothing; back restores both names', async () => {
      const target = await createSource('rename-db');
      await db.backup(target, { backupId: 'rename-db-b1', kind: 'snapshot', critical: [], takenBy: 't' });
      const copy = await db.restore(target, { restoreId: 'restore-rename', backupId: 'rename-db-b1', pointInTime: null });
      const setAside = 'rename-db-pre-restore-20261129t120000z';
      expect(await db.serving(target, 'restore-rename')).toMatchObject({ serving: 'original', setAside: null });

      const switched = await db.switchTo(target, 'restore-rename', setAside);
      expect(switched).toMatchObject({ serving: 'restored', setAside });
      expect(tag(await instance('rename-db'), RESTORE_TAG)).toBe('restore-rename');
      expect(tag(await instance(setAside), SET_ASIDE_BY_TAG)).toBe('restore-rename');
      expect(await instance(copy.name)).toBeNull();
      expect((await instance('rename-db'))?.Endpoint?.Address).toBe(`rename-db.aaaaaaaaaa.${REGION}.rds.amazonaws.com`);

      const ids = await instanceIds();
      expect(await db.switchTo(target, 'restore-rename', setAside)).toEqual(switched);
      expect(await instanceIds()).toEqual(ids);

      const back = await db.switchBack(target, 'restore-rename', setAside);
      expect(back).toMatchObject({ serving: 'original', setAside: null });
      expect(tag(await instance('rename-db'), RESTORE_TAG)).toBeUndefined();
      expect(tag(await instance('rename-db'), SET_ASIDE_BY_TAG)).toBeUndefined();
      expect(tag(await instance(copy.name), RESTORE_TAG)).toBe('restore-rename');
      expect(await instance(setAside)).toBeNull();
      expect(await db.switchBack(target, 'restore-rename', setAside)).toEqual(back);
    });

    it('finishes, or undoes, a switch that stopped between its two renames', async () => {
      const target = await createSource('halfway-db');
      const copy = await db.restore(target, { restoreId: 'restore-halfway', backupId: 'x', pointInTime: await latestRestorable(target) });
      const setAside = 'halfway-db-pre-restore-1';
      await db.switchTo(target, 'restore-halfway', setAside);
      // Undo the second rename by hand: now nothing answers to the name.
      await rds.send(new ModifyDBInstanceCommand({ DBInstanceIdentifier: 'halfway-db', NewDBInstanceIdentifier: copy.name, ApplyImmediately: true }));

      const halfway = await db.serving(target, 'restore-halfway');
      expect(halfway).toMatchObject({ serving: 'restored', setAside, detail: expect.stringContaining('stopped between its renames') });
      await expect(db.dropCopy(target, 'restore-halfway')).rejects.toMatchObject({ message: expect.stringContaining('half-way') });
      expect(await db.switchTo(target, 'restore-halfway', setAside)).toMatchObject({ serving: 'restored', setAside });

      await rds.send(new ModifyDBInstanceCommand({ DBInstanceIdentifier: 'halfway-db', NewDBInstanceIdentifier: copy.name, ApplyImmediately: true }));
      expect(await db.switchBack(target, 'restore-halfway', setAside)).toMatchObject({ serving: 'original' });
      expect(await instanceIds()).toEqual(expect.arrayContaining(['halfway-db', copy.name]));
      expect(await instance(setAside)).toBeNull();
    });

    it('refuses to set the original aside under a name that is taken or invalid', async () => {
      const target = await createSource('taken-db');
      await createSource('taken-db-aside');
      await db.restore(target, { restoreId: 'restore-taken', backupId: 'x', pointInTime: await latestRestorable(target) });
      await expect(db.switchTo(target, 'restore-taken', 'taken-db-aside')).rejects.toMatchObject({
        name: ErrorType.InfrastructureMismatch,
        message: expect.stringContaining('an RDS instance with that name exists'),
      });
      await expect(db.switchTo(target, 'restore-taken', 'taken-db:pre-restore')).rejects.toThrow(RangeError);
      expect(await db.serving(target, 'restore-taken')).toMatchObject({ serving: 'original' });
      expect(await instance('taken-db-aside')).not.toBeNull();
    });

    it('drops the copy only when it does not serve', async () => {
      const target = await createSource('dropcopy-db');
      const copy = await db.restore(target, { restoreId: 'restore-dropcopy', backupId: 'x', pointInTime: await latestRestorable(target) });
      await db.switchTo(target, 'restore-dropcopy', 'dropcopy-db-aside');
      await expect(db.dropCopy(target, 'restore-dropcopy')).rejects.toMatchObject({ message: expect.stringContaining('switch back first') });
      expect(tag(await instance('dropcopy-db'), RESTORE_TAG)).toBe('restore-dropcopy');

      await db.switchBack(target, 'restore-dropcopy', 'dropcopy-db-aside');
      await db.dropCopy(target, 'restore-dropcopy');
      await db.dropCopy(target, 'restore-dropcopy');
      expect(await instance(copy.name)).toBeNull();
      expect(await instance('dropcopy-db')).not.toBeNull();
      await db.dropCopy(target, 'never-restored');
    });

    it('drops the set-aside original after its retention, with a final snapshot, and never the instance that serves', async () => {
      const target = await createSource('retention-db');
      await db.restore(target, { restoreId: 'restore-retention', backupId: 'x', pointInTime: await latestRestorable(target) });
      const setAside = 'retention-db-pre-restore-1';
      await db.switchTo(target, 'restore-retention', setAside);

      await expect(db.dropSetAside(target, 'retention-db')).rejects.toMatchObject({ name: ErrorType.InfrastructureMismatch });
      await createSource('retention-db-bystander');
      await expect(db.dropSetAside(target, 'retention-db-bystander')).rejects.toMatchObject({ message: expect.stringContaining('no restore set it aside') });

      await db.dropSetAside(target, setAside);
      await db.dropSetAside(target, setAside);
      expect(await instance(setAside)).toBeNull();
      const finals = await rds.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: `${setAside}-final` }));
      expect(finals.DBSnapshots).toHaveLength(1);
      expect(await instance('retention-db-bystander')).not.toBeNull();
      // With the original gone, a switch back moves nothing: the copy keeps serving.
      await expect(db.switchBack(target, 'restore-retention', setAside)).rejects.toMatchObject({ message: expect.stringContaining('the original is not at') });
      expect(await db.serving(target, 'restore-retention')).toMatchObject({ serving: 'restored', setAside });
    });

    it('has nothing set aside to drop after a switch back', async () => {
      const target = await createSource('back-db');
      const copy = await db.restore(target, { restoreId: 'restore-back', backupId: 'x', pointInTime: await latestRestorable(target) });
      await db.switchTo(target, 'restore-back', 'back-db-aside');
      await db.switchBack(target, 'restore-back', 'back-db-aside');

      await db.dropSetAside(target, 'back-db-aside');
      await db.dropCopy(target, 'restore-back');
      expect(await instance('back-db')).toMatchObject({ DBInstanceStatus: 'available' });
      expect(tag(await instance('back-db'), RESTORE_TAG)).toBeUndefined();
      expect(await instance(copy.name)).toBeNull();
    });
  });

  describe('switching by a Route 53 record', () => {
    async function zoneWithRecord(name: string, value: string): Promise<string> {
      const zone = await route53.send(new CreateHostedZoneCommand({ Name: 'db.example.internal', CallerReference: `rds-test-${name}` }));
      const zoneId = zone.HostedZone!.Id!;
      await route53.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: zoneId,
          ChangeBatch: { Changes: [{ Action: 'CREATE', ResourceRecordSet: { Name: name, Type: 'CNAME', TTL: 300, ResourceRecords: [{ Value: value }] } }] },
        }),
      );
      return zoneId;
    }

    async function record(zoneId: string, name: string) {
      const out = await route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId, StartRecordName: name, StartRecordType: 'CNAME', MaxItems: 1 }));
      const r = out.ResourceRecordSets?.[0];
      return { value: r?.ResourceRecords?.[0]?.Value, ttl: r?.TTL };
    }

    it('points the record at the copy and back, keeping both instances under their own names', async () => {
      const recordName = 'orders.db.example.internal';
      const originalAddress = `r53-db.aaaaaaaaaa.${REGION}.rds.amazonaws.com`;
      const zoneId = await zoneWithRecord(recordName, originalAddress);
      const target = await createSource('r53-db', { type: 'route53', hostedZoneId: zoneId, recordName, ttl: 30 });
      const copy = await db.restore(target, { restoreId: 'restore-r53', backupId: 'x', pointInTime: await latestRestorable(target) });
      const copyAddress = `${copy.name}.aaaaaaaaaa.${REGION}.rds.amazonaws.com`;
      expect(await db.serving(target, 'restore-r53')).toMatchObject({ serving: 'original', setAside: null });

      const switched = await db.switchTo(target, 'restore-r53', 'ignored-by-route53');
      expect(switched).toMatchObject({ serving: 'restored', setAside: 'r53-db' });
      expect(await record(zoneId, recordName)).toEqual({ value: copyAddress, ttl: 30 });
      expect(await db.switchTo(target, 'restore-r53', 'ignored-by-route53')).toEqual(switched);
      await expect(db.dropCopy(target, 'restore-r53')).rejects.toMatchObject({ message: expect.stringContaining('points to it') });
      await expect(db.dropSetAside(target, copy.name)).rejects.toMatchObject({ name: ErrorType.InfrastructureMismatch });

      expect(await db.switchBack(target, 'restore-r53', 'r53-db')).toMatchObject({ serving: 'original', setAside: null });
      expect(await record(zoneId, recordName)).toEqual({ value: originalAddress, ttl: 30 });
      await expect(db.dropSetAside(target, 'r53-db')).rejects.toMatchObject({ message: expect.stringContaining('points to it') });
      await db.dropCopy(target, 'restore-r53');
      expect(await instance(copy.name)).toBeNull();
      expect(await instance('r53-db')).not.toBeNull();
    });

    it('drops the original after its retention once the record points at the copy', async () => {
      const recordName = 'billing.db.example.internal';
      const zoneId = await zoneWithRecord(recordName, `r53-keep-db.aaaaaaaaaa.${REGION}.rds.amazonaws.com`);
      const target = await createSource('r53-keep-db', { type: 'route53', hostedZoneId: zoneId, recordName, ttl: 60 });
      await db.restore(target, { restoreId: 'restore-r53-keep', backupId: 'x', pointInTime: await latestRestorable(target) });
      const { setAside } = await db.switchTo(target, 'restore-r53-keep', 'unused');
      await db.dropSetAside(target, setAside!);
      expect(await instance('r53-keep-db')).toBeNull();
      expect(await db.serving(target, 'restore-r53-keep')).toMatchObject({ serving: 'restored' });
    });

    it('refuses to repoint a record that points at neither instance', async () => {
      const recordName = 'stray.db.example.internal';
      const zoneId = await zoneWithRecord(recordName, 'somewhere-else.example.com');
      const target = await createSource('stray-db', { type: 'route53', hostedZoneId: zoneId, recordName, ttl: 60 });
      await db.restore(target, { restoreId: 'restore-stray', backupId: 'x', pointInTime: await latestRestorable(target) });
      await expect(db.switchTo(target, 'restore-stray', 'unused')).rejects.toMatchObject({ name: ErrorType.InfrastructureMismatch });
      expect(await record(zoneId, recordName)).toMatchObject({ value: 'somewhere-else.example.com' });
    });
  });

  it('builds the RDS client like the others: bounded, and one per region', async () => {
    const aws = createAwsClients({ endpoint: moto.endpoint });
    const client = aws.rds(REGION);
    expect(aws.rds(REGION)).toBe(client);
    expect(aws.rds('eu-west-1')).not.toBe(client);
    await client.send(new DescribeDBInstancesCommand({})); // the handler resolves its settings on its first request
    expect(await client.config.maxAttempts()).toBe(AWS_MAX_ATTEMPTS);
    expect((client.config.requestHandler as NodeHttpHandler).httpHandlerConfigs()).toMatchObject({ requestTimeout: AWS_REQUEST_TIMEOUT_MS, throwOnRequestTimeout: true });
  });

  it('fails at once, naming the instance, when it waits on one that will not become available', async () => {
    const target = await createSource('stopped-db');
    await rds.send(new StopDBInstanceCommand({ DBInstanceIdentifier: 'stopped-db' }));
    await expect(db.backup(target, { backupId: 'while-stopped', kind: 'snapshot', critical: [], takenBy: 't' })).rejects.toMatchObject({
      name: ErrorType.InfrastructureMismatch,
      message: expect.stringContaining("RDS instance 'stopped-db' is stopped"),
    });
  });

  it('refuses a database that is not on RDS, naming it', async () => {
    const target: PostgresTarget = { kind: 'postgres', host: '127.0.0.1', port: 5432, database: 'orders', user: 'baton', backupDir: '/b', walArchiveDir: '/w', scratchDir: '/s' };
    await expect(db.inventory(target)).rejects.toMatchObject({ name: ErrorType.InfrastructureMismatch, message: expect.stringContaining('127.0.0.1:5432/orders') });
  });
});
