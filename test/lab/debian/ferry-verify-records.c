/*
 * ferry-verify-records [FILE]: checks the record file (records.h) as the
 * disk holds it: clean cached pages are dropped first, so the records are
 * read from the disk and not from the page cache that migrated with the
 * guest's memory. Reads the acknowledged number before the file, so a
 * writer running meanwhile cannot make a true file look short.
 * Prints one line; exits 0 when every record is intact and every
 * acknowledged one is there, 1 otherwise.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "records.h"

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : RECORDS_FILE;
  unsigned long long acknowledged = 0;
  FILE *acked = fopen(RECORDS_ACKNOWLEDGED, "r");
  if (acked) { if (fscanf(acked, "%llu", &acknowledged) != 1) acknowledged = 0; fclose(acked); }
  int fd = open(path, O_RDONLY);
  if (fd < 0) { printf("ferry-verify-records: cannot open %s\n", path); return 1; }
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  struct stat st;
  fstat(fd, &st);
  unsigned long long records = (unsigned long long)st.st_size / RECORD_LINE, first_bad = 0;
  char line[RECORD_LINE];
  for (unsigned long long n = 1; n <= records && !first_bad; n++) {
    if (pread(fd, line, RECORD_LINE, (off_t)((n - 1) * RECORD_LINE)) != RECORD_LINE || records_check(line, n) != n) first_bad = n;
  }
  int ok = first_bad == 0 && records >= acknowledged;
  printf("ferry-verify-records: %s records=%llu acknowledged=%llu first_bad=%llu torn_tail=%llu\n", ok ? "ok" : "FAILED",
         records, acknowledged, first_bad, (unsigned long long)st.st_size % RECORD_LINE);
  return ok ? 0 : 1;
}
