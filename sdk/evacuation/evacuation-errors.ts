import { FerryError } from '../ferry-error.ts';

/** Evacuation options that cannot work; nothing was touched. */
export class EvacuationOptionsError extends FerryError {
  readonly option: string;
  constructor(option: string, message: string) {
    super('EVACUATION_OPTIONS_INVALID', `option ${option}: ${message}`);
    this.option = option;
  }
}
