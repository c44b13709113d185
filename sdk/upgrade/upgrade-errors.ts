import { FerryError } from '../ferry-error.ts';

/** Rolling-upgrade options that cannot work; nothing was touched. */
export class RollingUpgradeOptionsError extends FerryError {
  readonly option: string;
  constructor(option: string, message: string) {
    super('ROLLING_UPGRADE_OPTIONS_INVALID', `option ${option}: ${message}`);
    this.option = option;
  }
}
