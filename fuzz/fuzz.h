/* SPDX-License-Identifier: MIT */
/*
 * The libFuzzer entry point, declared once so that the target, the replay
 * driver and -Wmissing-prototypes all agree on it.
 */
#ifndef MPROC_FUZZ_H
#define MPROC_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
