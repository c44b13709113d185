/* A numeric `key=value` parameter of the kernel command line (fallback if absent). */
#ifndef FERRY_CMDLINE_H
#define FERRY_CMDLINE_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline double cmdline_number(const char *key, double fallback) {
  /* A space before the text and the key: a key matches at a word's start only. */
  char padded[4097] = " ", word[128];
  FILE *f = fopen("/proc/cmdline", "r");
  if (!f) return fallback;
  size_t n = fread(padded + 1, 1, sizeof padded - 2, f);
  fclose(f);
  padded[n + 1] = 0;
  snprintf(word, sizeof word, " %s=", key);
  const char *at = strstr(padded, word);
  return at ? atof(at + strlen(word)) : fallback;
}

#endif
