/* SPDX-License-Identifier: MIT */
/*
 * mproc/common.h - conventions shared by every mproc header.
 *
 * Errors: every call returns 0 (or a non-negative count/size/offset) on
 * success and a negative errno on failure, like liburing and the kernel.
 * Timeouts: one int64_t timeout_ns argument; MPROC_FOREVER blocks without
 * limit, 0 never blocks, > 0 is relative and becomes one absolute
 * CLOCK_MONOTONIC deadline on entry.
 */
#ifndef MPROC_COMMON_H
#define MPROC_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MPROC_VERSION_MAJOR 0
#define MPROC_VERSION_MINOR 1
#define MPROC_VERSION_PATCH 0

/* Block without limit. Any other negative timeout acts as 0. */
#define MPROC_FOREVER ((int64_t)-1)
#define MPROC_NS_PER_SEC ((int64_t)1000000000)
#define MPROC_NS_PER_MS ((int64_t)1000000)
#define MPROC_NS_PER_US ((int64_t)1000)

/* Longest name of an object inside a region (bytes, without the NUL). */
#define MPROC_NAME_MAX 79

/* Version of the library actually linked (may differ from the header's). */
const char *mproc_version(void);

#ifdef __cplusplus
}
#endif
#endif /* MPROC_COMMON_H */
