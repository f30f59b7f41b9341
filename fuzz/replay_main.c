/* SPDX-License-Identifier: MIT */
/*
 * replay_main.c - runs files through LLVMFuzzerTestOneInput without
 * libFuzzer, so that any compiler (gcc included) builds the fuzz target as
 * a regression test over its corpus, and AFL++ or a debugger can drive it.
 *
 *   fuzz-region-replay [-v] PATH...  each PATH a file, or a directory whose
 *                                    regular files (not dotfiles) run in
 *                                    name order; -v names each input before
 *                                    it runs (to see which one failed)
 *
 * Exits 1 if no input was found (a mistyped corpus path must not pass), and
 * aborts, like the target, on the first failing input after naming it.
 */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int verbose;

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fileno(f), &st) < 0 || st.st_size < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		fclose(f);
		return -1;
	}
	size_t n = (size_t)st.st_size;
	/* Exactly n bytes (malloc(0) may be NULL): ASan then catches a read
	 * past the input's end, as under libFuzzer. */
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf || fread(buf, 1, n, f) != n) {
		fprintf(stderr, "%s: read failed\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	/* Named before it runs: a crash ends the process. */
	if (verbose)
		fprintf(stderr, "replay %s (%zu bytes)\n", path, n);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

static int run_dir(const char *dir, unsigned *count)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return -1;
	}
	int rc = 0;
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;
		if (ents[i]->d_name[0] != '.' && rc == 0 &&
		    snprintf(path, sizeof path, "%s/%s", dir, ents[i]->d_name) < (int)sizeof path &&
		    stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			rc = run_file(path);
			(*count)++;
		}
		free(ents[i]);
	}
	free(ents);
	return rc;
}

int main(int argc, char **argv)
{
	unsigned count = 0;

	int i = 1;
	if (i < argc && strcmp(argv[i], "-v") == 0) {
		verbose = 1;
		i++;
	}
	for (; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		int rc;
		if (S_ISDIR(st.st_mode)) {
			rc = run_dir(argv[i], &count);
		} else {
			rc = run_file(argv[i]);
			count++;
		}
		if (rc < 0)
			return 1;
	}
	if (count == 0) {
		fprintf(stderr, "usage: %s [-v] FILE-OR-DIR...  (no input found)\n", argv[0]);
		return 1;
	}
	printf("%u inputs replayed, no finding\n", count);
	return 0;
}
