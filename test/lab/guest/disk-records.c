/* The disk record layout (see disk-records.h); shared by writer and verifier. */
#include <string.h>
#include "disk-records.h"

static uint32_t fnv1a(const unsigned char *bytes, size_t length, uint32_t hash) {
  for (size_t i = 0; i < length; i++) hash = (hash ^ bytes[i]) * 16777619u;
  return hash;
}

static uint32_t block_checksum(const unsigned char *block) {
  static const unsigned char zero[4];
  uint32_t hash = fnv1a(block, RECORD_CHECKSUM_OFFSET, 2166136261u);
  hash = fnv1a(zero, sizeof zero, hash);
  return fnv1a(block + RECORD_CHECKSUM_OFFSET + 4, RECORD_BYTES - RECORD_CHECKSUM_OFFSET - 4, hash);
}

static void put64(unsigned char *at, uint64_t value) { memcpy(at, &value, 8); }
static uint64_t get64(const unsigned char *at) { uint64_t v; memcpy(&v, at, 8); return v; }

void record_fill(unsigned char *block, uint64_t number, uint64_t generation, uint64_t slots) {
  memset(block, 0, RECORD_BYTES);
  put64(block, RECORD_MAGIC);
  put64(block + 8, number);
  put64(block + 16, generation);
  put64(block + 24, slots);
  /* Filler that differs per record and boot and is never zero, so a stale
     or misplaced block cannot pass for the right one. */
  uint64_t x = (number * 0x9E3779B97F4A7C15ull) ^ generation ^ 0x2545F4914F6CDD1Dull;
  for (size_t at = 40; at < RECORD_BYTES; at += 8) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    put64(block + at, x);
  }
  uint32_t sum = block_checksum(block);
  memcpy(block + RECORD_CHECKSUM_OFFSET, &sum, 4);
}

uint64_t record_check(const unsigned char *block, uint64_t slot, uint64_t slots) {
  if (get64(block) != RECORD_MAGIC) {
    for (size_t i = 0; i < RECORD_BYTES; i++) if (block[i]) return UINT64_MAX;
    return 0;
  }
  uint32_t sum;
  memcpy(&sum, block + RECORD_CHECKSUM_OFFSET, 4);
  uint64_t number = get64(block + 8);
  if (sum != block_checksum(block) || number == 0 || get64(block + 24) != slots || (number - 1) % slots != slot) return UINT64_MAX;
  return number;
}
