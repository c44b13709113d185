// The raw migration script as its own process, for a cold run beside ferry's CLI:
//   node --import tsx test/lab/raw-migrate-cli.ts SOURCE DESTINATION VM MEMORY_MIB
// The lab comes from FERRY_LAB_* (lab-settings.ts). Prints its figures as JSON.
import { Lab } from './lab.ts';
import { rawSshMigrate } from './raw-ssh-migration.ts';

const [source, destination, name, memory] = process.argv.slice(2);
if (!source || !destination || !name) throw new Error('usage: raw-migrate-cli.ts SOURCE DESTINATION VM [MEMORY_MIB]');
const figures = await rawSshMigrate(new Lab(), source, destination, name, { memoryMiB: Number(memory ?? 512) });
process.stdout.write(`${JSON.stringify(figures)}\n`);
