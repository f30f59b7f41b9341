/*
 * Built by tests/build/install.sh against the *installed* library, with
 * nothing but `pkg-config --cflags --libs mproc`: the smallest real user.
 */
#include <mproc.h>

#include <stdio.h>
#include <string.h>

/* Prints the path libmproc was loaded from, so the script can check that
 * the installed copy (not the build tree's, nor a system one) is used. */
static void print_mapping(void)
{
	char line[4096];
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		char *p = strchr(line, '/');
		if (p && strstr(p, "libmproc")) {
			printf("mapped: %s", p);
			break;
		}
	}
	fclose(f);
}

int main(void)
{
	struct mproc_region *r = NULL;
	unsigned char *p;
	int64_t off;
	size_t i;
	int rc;

	rc = mproc_region_create(&r, NULL, 1 << 20, 0);
	if (rc < 0 || !r) {
		fprintf(stderr, "mproc_region_create: %d (%s)\n", rc, strerror(rc < 0 ? -rc : 0));
		return 1;
	}
	p = mproc_region_alloc(r, 100);
	if (!p) {
		perror("mproc_region_alloc");
		return 1;
	}
	for (i = 0; i < 100; i++)
		p[i] = (unsigned char)i;
	off = mproc_region_offset(r, p, 100);
	if (off <= 0 || mproc_region_ptr(r, (uint64_t)off, 100) != p) {
		fprintf(stderr, "offset/pointer round trip failed: %lld\n", (long long)off);
		return 1;
	}
	rc = mproc_region_close(r);
	if (rc < 0) {
		fprintf(stderr, "mproc_region_close: %d (%s)\n", rc, strerror(-rc));
		return 1;
	}
	printf("mproc %s: anonymous region created, allocated from, closed\n", mproc_version());
	print_mapping();
	return 0;
}
