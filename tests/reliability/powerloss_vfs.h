/* SPDX-License-Identifier: MIT */
/* powerloss_vfs.h: an SQLite VFS shim that keeps what was fsync'ed apart, to rebuild the
 * files as a power loss would leave them. */
#ifndef STREAMY_POWERLOSS_VFS_H
#define STREAMY_POWERLOSS_VFS_H

#include <stdint.h>

/* In the process that writes (a child, killed later): register the shim as the default
 * VFS. Files opened under `real_dir` are written there as usual; each sync copies the
 * ranges written to the file since its last sync into the same name under
 * `durable_dir`, and every write, truncate and sync is first logged to `log_path`, so
 * that the writes not yet synced are known after a SIGKILL. With `fail_after` > 0, the
 * process kills itself just before its fail_after-th write, truncate or sync of such a
 * file (a power loss in the middle of a commit); 0: only when killed from outside.
 * Returns 0 or -1. */
int powerloss_install(const char *real_dir, const char *durable_dir, const char *log_path,
                      long fail_after);

/* In the parent, after the writer died: build in `image_dir` what the disk could hold
 * after a power loss at that instant: the synced files, plus each 512-byte sector of
 * the writes not yet synced with probability 1/2 (its newest contents, taken from
 * `real_dir`). `seed` picks the sectors. Returns the number of sectors considered,
 * or -1. */
long powerloss_image(const char *real_dir, const char *durable_dir, const char *log_path,
                     const char *image_dir, uint64_t seed);

#endif /* STREAMY_POWERLOSS_VFS_H */
