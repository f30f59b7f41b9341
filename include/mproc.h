/* SPDX-License-Identifier: MIT */
/*
 * mproc - Python's multiprocessing for C, in shared memory, on futexes.
 * The umbrella header: include this one.
 */
#ifndef MPROC_H
#define MPROC_H

#include <mproc/common.h>
#include <mproc/wait.h>
#include <mproc/region.h>
#include <mproc/sync.h>
#include <mproc/ring.h>
#include <mproc/pipe.h>
#include <mproc/queue.h>
#include <mproc/mpmc.h>
#include <mproc/process.h>
#include <mproc/pool.h>
#include <mproc/inspect.h>

#endif /* MPROC_H */
