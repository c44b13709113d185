/*
 * The Debian guest's record file (/var/lib/ferry/records): fixed-width lines
 *   NNNNNNNNNNNN GGGGGGGGGGGGGGGG PPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPP CCCCCCCC\n
 * number (12 digits, 1, 2, ... in order), the writing boot's generation (16
 * hex), a payload derived from both (32 hex), and the FNV-1a 32 checksum (8
 * hex) of everything before it. test/lab/debian-records.ts reads the same.
 */
#ifndef FERRY_RECORDS_H
#define FERRY_RECORDS_H
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define RECORD_LINE 72
#define RECORDS_FILE "/var/lib/ferry/records"
#define RECORDS_ACKNOWLEDGED "/run/ferry-records.acknowledged"

static inline uint32_t records_fnv1a(const char *text, size_t length) {
  uint32_t hash = 2166136261u;
  for (size_t i = 0; i < length; i++) hash = (hash ^ (unsigned char)text[i]) * 16777619u;
  return hash;
}

/* Writes record `number` of boot `generation` into `line` (RECORD_LINE bytes, no NUL). */
static inline void records_format(char *line, unsigned long long number, unsigned long long generation) {
  unsigned long long a = number * 0x9E3779B97F4A7C15ull ^ generation, b = a * 0xBF58476D1CE4E5B9ull + number;
  char text[RECORD_LINE + 1];
  snprintf(text, sizeof text, "%012llu %016llx %016llx%016llx ", number, generation, a, b);
  snprintf(text + 63, sizeof text - 63, "%08x\n", records_fnv1a(text, 63));
  memcpy(line, text, RECORD_LINE);
}

/* The number in an intact `line` that must hold record `expected`, or 0. */
static inline unsigned long long records_check(const char *line, unsigned long long expected) {
  unsigned long long number = 0, generation = 0;
  char copy[RECORD_LINE + 1], again[RECORD_LINE];
  memcpy(copy, line, RECORD_LINE);
  copy[RECORD_LINE] = 0;
  if (sscanf(copy, "%12llu %16llx", &number, &generation) != 2 || number != expected) return 0;
  records_format(again, number, generation);
  return memcmp(again, line, RECORD_LINE) == 0 ? number : 0;
}

#endif
