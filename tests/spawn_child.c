/* SPDX-License-Identifier: MIT */
/* A separate program started by mproc_process_spawn: it attaches to the
 * parent's region through MPROC_REGION_FD and adds to a named Value. */
#include <mproc.h>
#include <stdio.h>

int main(void)
{
	struct mproc_region *r;
	struct mproc_value *v;
	int zero = 0;
	if (mproc_region_from_env(&r, 0) < 0)
		return 2;
	if (mproc_value_open(r, "counter", MPROC_C_INT, &zero, &v) < 0)
		return 3;
	if (mproc_value_fetch_add(v, 1, NULL) < 0)
		return 4;
	mproc_region_close(r);
	return 0;
}
