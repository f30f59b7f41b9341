/* SPDX-License-Identifier: MIT */
/*
 * The libFuzzer entry point, declared once so that the target, the replay
 * driver and -Wmissing-prototypes all agree on it.
 */
#ifndef MPROC_FUZZ_H
#define MPROC_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A target's own invariant: abort, which libFuzzer and the replay driver
 * both report as a finding with the input that broke it. */
#define FUZZ_CHECK(c)                                                                  \
	do {                                                                           \
		if (!(c)) {                                                            \
			fprintf(stderr, "fuzz: invariant failed: %s (%s:%d)\n", #c,    \
				__FILE__, __LINE__);                                   \
			abort();                                                       \
		}                                                                      \
	} while (0)

/* The fuzzer's bytes, read front to back by every target.  Past the end
 * every read yields 0, so a truncated program still decodes. */
struct in {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t take8(struct in *s)
{
	if (s->n == 0)
		return 0;
	s->n--;
	return *s->p++;
}

/* `bytes` (at most 8) bytes as a little-endian number. */
static inline uint64_t take(struct in *s, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++)
		v |= (uint64_t)take8(s) << (8 * i);
	return v;
}

#endif
