// The config-owned Temporal Schedules (restore drills, DR drills, readiness) are kept in step with
// config at every worker start: updated to what config says, their state kept (a paused one stays
// paused), or created when missing. Workers start together (one per region): when two create the
// same schedule, the one that loses updates it instead.
import { ScheduleAlreadyRunning, ScheduleNotFoundError, type Client, type ScheduleOptions } from '@temporalio/client';

type Managed = Pick<ScheduleOptions, 'spec' | 'action' | 'policies'>;

export async function upsertSchedule(client: Client, scheduleId: string, wanted: Managed, created: NonNullable<ScheduleOptions['state']>): Promise<void> {
  const handle = client.schedule.getHandle(scheduleId);
  const update = () => handle.update((prev) => ({ ...prev, ...wanted }));
  try {
    await update();
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
    try {
      await client.schedule.create({ scheduleId, ...wanted, state: created });
    } catch (raced) {
      if (!(raced instanceof ScheduleAlreadyRunning)) throw raced;
      await update();
    }
  }
}
