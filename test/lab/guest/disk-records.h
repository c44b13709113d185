/*
 * The small guest's disk records: the disk is a ring of 4 KiB slots, record
 * number n (1, 2, ...) lives in slot (n - 1) % slots. Every record carries
 * its number, the boot (generation) that wrote it, the slot count and a
 * checksum of the whole block, so a torn, stale or misplaced block shows.
 * test/lab/disk-records.ts reads the same layout from an image offline.
 *
 * Layout (little-endian): magic u64 "FERRYREC", number u64, generation u64,
 * slots u64, checksum u32 (FNV-1a over the block with this field zero),
 * then filler derived from number and generation up to 4096 bytes.
 */
#ifndef FERRY_DISK_RECORDS_H
#define FERRY_DISK_RECORDS_H
#include <stdint.h>

#define RECORD_BYTES 4096
#define RECORD_MAGIC 0x4345525952524546ull /* "FERRYREC" read as little-endian u64 */
#define RECORD_CHECKSUM_OFFSET 32

/* What a scan of the ring found. */
struct ring_state {
  uint64_t last;       /* highest intact record number (0: none) */
  uint64_t first_bad;  /* lowest record of the ring's window below last that is missing or corrupt (0: none) */
  uint64_t corrupt;    /* slots holding a block with the magic whose checksum or place is wrong */
};

void record_fill(unsigned char *block, uint64_t number, uint64_t generation, uint64_t slots);
/* The record number in an intact block for `slot`, or 0 (empty), or UINT64_MAX (corrupt). */
uint64_t record_check(const unsigned char *block, uint64_t slot, uint64_t slots);

#endif
