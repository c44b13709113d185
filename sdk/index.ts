/**
 * ferry: live-migrate running QEMU/KVM virtual machines between hosts.
 * This is the one public entry; everything a user imports comes from here.
 */
export { FerryError, AbortedError } from './ferry-error.ts';
