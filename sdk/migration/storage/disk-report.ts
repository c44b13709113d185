import type { MigrationDiskReport } from '../migration-result.ts';
import { describeDiskPlan, type DiskPlan } from './storage-plan.ts';

/** The disks as a result (or a dry run) reports them. */
export function diskReports(plans: readonly DiskPlan[], destination: string): MigrationDiskReport[] {
  return plans.map((plan) => ({
    device: plan.disk.device,
    path: plan.disk.path,
    format: plan.disk.format,
    virtualSizeBytes: plan.disk.virtualSizeBytes,
    action: plan.action,
    description: describeDiskPlan(plan, destination),
  }));
}
