/* SPDX-License-Identifier: MIT */
/*
 * USDT probes (provider "mproc") for perf, bpftrace and SystemTap.
 *
 * A probe is one NOP in the code and a note in .note.stapsdt naming it and
 * where its arguments live; it costs nothing until a tracer plants a
 * breakpoint on it.  They sit only on slow paths (a futex call, a death, a
 * steal), never on the inline fast paths of the public headers, so user
 * programs need no <sys/sdt.h>.  Without systemtap-sdt-dev (or with
 * -Dprobes=disabled) they compile to nothing.
 *
 * The list, with arguments, is in docs/perf.md; tests/test_probes.sh checks
 * that the built library carries every one of them.
 */
#ifndef MPROC_PROBES_H
#define MPROC_PROBES_H

#if defined(MPROC_HAVE_SDT) && MPROC_HAVE_SDT
#include <sys/sdt.h>
#define MPI_PROBE0(name) DTRACE_PROBE(mproc, name)
#define MPI_PROBE1(name, a) DTRACE_PROBE1(mproc, name, a)
#define MPI_PROBE2(name, a, b) DTRACE_PROBE2(mproc, name, a, b)
#define MPI_PROBE3(name, a, b, c) DTRACE_PROBE3(mproc, name, a, b, c)
#else
#define MPI_PROBE0(name) do { } while (0)
#define MPI_PROBE1(name, a) do { (void)(a); } while (0)
#define MPI_PROBE2(name, a, b) do { (void)(a); (void)(b); } while (0)
#define MPI_PROBE3(name, a, b, c) do { (void)(a); (void)(b); (void)(c); } while (0)
#endif

#endif /* MPROC_PROBES_H */
