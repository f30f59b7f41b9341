/* SPDX-License-Identifier: MIT */
/*
 * The directory of named objects: create-or-open races across processes
 * yield exactly one object, type/size mismatches and limits give clear
 * errors, removal, listing (also read-only), and a creator killed while it
 * holds the directory lock neither wedges the others nor leaves a
 * half-made entry.
 */
#include "harness.h"
#include "internal.h"

#include <signal.h>
#include <unistd.h>

#define SZ ((size_t)4 << 20)

static struct mproc_region *R;
struct book {
	uint32_t inits;
	uint32_t created;
	uint32_t go;
	uint32_t in_init;
	uint64_t offs[16];
};
static struct book *B;

static int init_counted(void *obj, size_t size, void *arg)
{
	__atomic_fetch_add(&B->inits, 1, __ATOMIC_SEQ_CST);
	memset(obj, 0xab, size);
	return 0;
}

static int racer(void *arg)
{
	int k = *(int *)arg;
	while (!__atomic_load_n(&B->go, __ATOMIC_SEQ_CST))
		;
	for (int round = 0; round < 50; round++) {
		char name[32];
		snprintf(name, sizeof name, "obj-%d", round);
		void *p;
		int rc = mproc_region_object(R, name, MPROC_TYPE_RAW, 200, init_counted, NULL, &p);
		if (rc < 0)
			return 2;
		if (rc == 1)
			__atomic_fetch_add(&B->created, 1, __ATOMIC_SEQ_CST);
		if (((uint8_t *)p)[199] != 0xab)
			return 3;	/* saw an object before its init finished */
		if (round == 49)
			B->offs[k] = (uint64_t)mproc_region_offset(R, p, 1);
	}
	return 0;
}

static void test_create_race(void)
{
	enum { N = 8 };
	memset(B, 0, sizeof *B);
	int ks[N];
	pid_t p[N];
	for (int i = 0; i < N; i++) {
		ks[i] = i;
		p[i] = t_fork(racer, &ks[i], 30);
	}
	__atomic_store_n(&B->go, 1, __ATOMIC_SEQ_CST);
	for (int i = 0; i < N; i++)
		T_EQ(t_join(p[i]), 0);
	T_EQ(B->created, 50);
	T_EQ(B->inits, 50);
	for (int i = 1; i < N; i++)
		T_EQ(B->offs[i], B->offs[0]);
}

static void test_errors(void)
{
	void *p;
	size_t sz;
	T_EQ(mproc_region_object(R, "e1", MPROC_TYPE_RAW, 64, NULL, NULL, &p), 1);
	T_EQ(mproc_region_object(R, "e1", MPROC_TYPE_RAW, 64, NULL, NULL, &p), 0);
	T_EQ(mproc_region_object(R, "e1", MPROC_TYPE_LOCK, 64, NULL, NULL, &p), -EEXIST);
	T_EQ(mproc_region_object(R, "e1", MPROC_TYPE_RAW, 65, NULL, NULL, &p), -EEXIST);
	T_EQ(mproc_region_lookup(R, "e1", MPROC_TYPE_RAW, &p, &sz), 0);
	T_EQ(sz, 64);
	T_EQ(mproc_region_lookup(R, "e1", MPROC_TYPE_SEM, &p, NULL), -EEXIST);
	T_EQ(mproc_region_lookup(R, "nope", MPROC_TYPE_RAW, &p, NULL), -ENOENT);
	T_EQ(mproc_region_object(R, "", MPROC_TYPE_RAW, 64, NULL, NULL, &p), -EINVAL);
	T_EQ(mproc_region_object(R, NULL, MPROC_TYPE_RAW, 64, NULL, NULL, &p), -EINVAL);
	T_EQ(mproc_region_object(R, "x", 0, 64, NULL, NULL, &p), -EINVAL);
	T_EQ(mproc_region_object(R, "x", MPROC_TYPE_RAW, 0, NULL, NULL, &p), -EINVAL);
	char longname[MPROC_NAME_MAX + 2];
	memset(longname, 'n', sizeof longname);
	longname[MPROC_NAME_MAX + 1] = 0;
	T_EQ(mproc_region_object(R, longname, MPROC_TYPE_RAW, 64, NULL, NULL, &p), -ENAMETOOLONG);
	longname[MPROC_NAME_MAX] = 0;
	T_EQ(mproc_region_object(R, longname, MPROC_TYPE_RAW, 64, NULL, NULL, &p), 1);
	T_EQ(mproc_region_object(R, "huge", MPROC_TYPE_RAW, SZ * 2, NULL, NULL, &p), -ENOMEM);
	T_EQ(mproc_region_remove(R, "e1"), 0);
	T_EQ(mproc_region_remove(R, "e1"), -ENOENT);
	T_EQ(mproc_region_lookup(R, "e1", MPROC_TYPE_RAW, &p, NULL), -ENOENT);
	T_EQ(mproc_region_object(R, "e1", MPROC_TYPE_LOCK, 64, NULL, NULL, &p), 1);
}

static int init_fails(void *obj, size_t size, void *arg)
{
	return -EIO;
}

static void test_init_failure(void)
{
	void *p;
	T_EQ(mproc_region_object(R, "fails", MPROC_TYPE_RAW, 64, init_fails, NULL, &p), -EIO);
	T_EQ(mproc_region_lookup(R, "fails", 0, &p, NULL), -ENOENT);
	T_EQ(mproc_region_object(R, "fails", MPROC_TYPE_RAW, 64, NULL, NULL, &p), 1);
}

static void test_full(void)
{
	struct mproc_region *r;
	struct mproc_region_opts o = {.max_objects = 8};
	T_OK(mproc_region_create_opts(&r, NULL, SZ, &o));
	void *p;
	char name[16];
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof name, "f%d", i);
		T_EQ(mproc_region_object(r, name, MPROC_TYPE_RAW, 32, NULL, NULL, &p), 1);
	}
	T_EQ(mproc_region_object(r, "one-more", MPROC_TYPE_RAW, 32, NULL, NULL, &p), -ENOSPC);
	/* every name is still found in a full table (probing stops) */
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof name, "f%d", i);
		T_EQ(mproc_region_lookup(r, name, MPROC_TYPE_RAW, &p, NULL), 0);
	}
	T_EQ(mproc_region_lookup(r, "absent", MPROC_TYPE_RAW, &p, NULL), -ENOENT);
	T_OK(mproc_region_remove(r, "f3"));
	T_EQ(mproc_region_object(r, "one-more", MPROC_TYPE_RAW, 32, NULL, NULL, &p), 1);
	mproc_region_close(r);
}

static int count_cb(const struct mproc_object_info *i, void *arg)
{
	int *n = arg;
	if (strcmp(i->name, "listed") == 0 && i->type == MPROC_TYPE_EVENT && i->size == 48)
		n[1]++;
	n[0]++;
	return 0;
}

static void test_list_readonly(void)
{
	const char *name = t_name("dirlist");
	struct mproc_region *w, *ro;
	void *p;
	mproc_region_unlink(name);
	T_OK(mproc_region_create(&w, name, SZ, 0));
	T_EQ(mproc_region_object(w, "listed", MPROC_TYPE_EVENT, 48, NULL, NULL, &p), 1);
	T_EQ(mproc_region_object(w, "other", MPROC_TYPE_RAW, 48, NULL, NULL, &p), 1);
	T_OK(mproc_region_open(&ro, name, MPROC_REGION_RDONLY));
	int n[2] = {0, 0};
	T_OK(mproc_region_list(ro, count_cb, n));
	T_EQ(n[0], 2);
	T_EQ(n[1], 1);
	T_EQ(mproc_region_object(ro, "x", MPROC_TYPE_RAW, 8, NULL, NULL, &p), -EROFS);
	mproc_region_close(ro);
	mproc_region_close(w);
	mproc_region_unlink(name);
}

static int init_hangs(void *obj, size_t size, void *arg)
{
	__atomic_store_n(&B->in_init, 1, __ATOMIC_SEQ_CST);
	for (;;)
		pause();
	return 0;
}

static int dying_creator(void *arg)
{
	void *p;
	mproc_region_object(R, "doomed", MPROC_TYPE_RAW, 512, init_hangs, NULL, &p);
	return 9;
}

static void test_creator_killed(void)
{
	/* A process killed inside init holds the directory lock: the next
	 * caller takes it over (robust lock), rolls the entry back and goes on. */
	for (int round = 0; round < 5; round++) {
		memset(B, 0, sizeof *B);
		pid_t p = t_fork(dying_creator, NULL, 20);
		while (!__atomic_load_n(&B->in_init, __ATOMIC_SEQ_CST))
			usleep(500);
		kill(p, SIGKILL);
		T_EQ(t_join(p), -SIGKILL);
		void *obj;
		T_EQ(mproc_region_lookup(R, "doomed", 0, &obj, NULL), -ENOENT);
		T_EQ(mproc_region_object(R, "doomed", MPROC_TYPE_RAW, 512, NULL, NULL, &obj), 1);
		T_OK(mproc_region_remove(R, "doomed"));
	}
}

int main(void)
{
	t_watchdog(50);
	B = t_shared(sizeof *B);
	T_OK(mproc_region_create(&R, NULL, SZ, 0));
	T_RUN(test_errors);
	T_RUN(test_init_failure);
	T_RUN(test_create_race);
	T_RUN(test_full);
	T_RUN(test_list_readonly);
	T_RUN(test_creator_killed);
	mproc_region_close(R);
	return 0;
}
