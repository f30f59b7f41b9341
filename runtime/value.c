/* SPDX-License-Identifier: MIT */
/*
 * Value and Array: typed shared memory with its own RLock (get_lock), plus
 * lock-free atomics on integer elements.  The type, element size and length
 * live in shared memory and are re-validated at every use: an Array's
 * header carries a check word tying them together, and no index is used
 * before it is checked against the validated length.
 */
#include "internal.h"

#include <string.h>

#define ARRAY_MAGIC 0x4d50524f43415252ull	/* "MPROCARR" */

int mproc_ctype_size(int type)
{
	switch (type) {
	case MPROC_C_CHAR:
	case MPROC_C_BYTE:
	case MPROC_C_UBYTE:
		return 1;
	case MPROC_C_SHORT:
	case MPROC_C_USHORT:
		return 2;
	case MPROC_C_INT:
	case MPROC_C_UINT:
	case MPROC_C_FLOAT:
		return 4;
	case MPROC_C_LONG:
	case MPROC_C_ULONG:
	case MPROC_C_LONGLONG:
	case MPROC_C_ULONGLONG:
	case MPROC_C_DOUBLE:
		return 8;
	default:
		return -EINVAL;
	}
}

static bool ctype_signed(int type)
{
	return type == MPROC_C_BYTE || type == MPROC_C_SHORT || type == MPROC_C_INT ||
	       type == MPROC_C_LONG || type == MPROC_C_LONGLONG || type == MPROC_C_CHAR;
}

static bool ctype_integer(int type)
{
	return mproc_ctype_size(type) > 0 && type != MPROC_C_FLOAT && type != MPROC_C_DOUBLE;
}

/* ---- integer atomics on one element of any width ---- */

static int64_t widen(int type, uint64_t raw)
{
	switch (mproc_ctype_size(type)) {
	case 1:
		return ctype_signed(type) ? (int64_t)(int8_t)raw : (int64_t)(uint8_t)raw;
	case 2:
		return ctype_signed(type) ? (int64_t)(int16_t)raw : (int64_t)(uint16_t)raw;
	case 4:
		return ctype_signed(type) ? (int64_t)(int32_t)raw : (int64_t)(uint32_t)raw;
	default:
		return (int64_t)raw;
	}
}

/*
 * Integer atomics default to seq_cst: they are what users build counters
 * and flags from, and Python's semantics give no weaker ordering to rely on.
 */
static int64_t atom_load(void *p, int type)
{
	switch (mproc_ctype_size(type)) {
	case 1:
		return widen(type, __atomic_load_n((uint8_t *)p, __ATOMIC_SEQ_CST));
	case 2:
		return widen(type, __atomic_load_n((uint16_t *)p, __ATOMIC_SEQ_CST));
	case 4:
		return widen(type, __atomic_load_n((uint32_t *)p, __ATOMIC_SEQ_CST));
	default:
		return widen(type, __atomic_load_n((uint64_t *)p, __ATOMIC_SEQ_CST));
	}
}

static void atom_store(void *p, int type, int64_t x)
{
	switch (mproc_ctype_size(type)) {
	case 1:
		__atomic_store_n((uint8_t *)p, (uint8_t)x, __ATOMIC_SEQ_CST);
		break;
	case 2:
		__atomic_store_n((uint16_t *)p, (uint16_t)x, __ATOMIC_SEQ_CST);
		break;
	case 4:
		__atomic_store_n((uint32_t *)p, (uint32_t)x, __ATOMIC_SEQ_CST);
		break;
	default:
		__atomic_store_n((uint64_t *)p, (uint64_t)x, __ATOMIC_SEQ_CST);
	}
}

static int64_t atom_add(void *p, int type, int64_t d)
{
	switch (mproc_ctype_size(type)) {
	case 1:
		return widen(type, __atomic_fetch_add((uint8_t *)p, (uint8_t)d, __ATOMIC_SEQ_CST));
	case 2:
		return widen(type, __atomic_fetch_add((uint16_t *)p, (uint16_t)d, __ATOMIC_SEQ_CST));
	case 4:
		return widen(type, __atomic_fetch_add((uint32_t *)p, (uint32_t)d, __ATOMIC_SEQ_CST));
	default:
		return widen(type, __atomic_fetch_add((uint64_t *)p, (uint64_t)d, __ATOMIC_SEQ_CST));
	}
}

static bool atom_cas(void *p, int type, int64_t *expected, int64_t desired)
{
	bool ok;
	switch (mproc_ctype_size(type)) {
	case 1: {
		uint8_t e = (uint8_t)*expected;
		ok = __atomic_compare_exchange_n((uint8_t *)p, &e, (uint8_t)desired, false,
						 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		*expected = widen(type, e);
		break;
	}
	case 2: {
		uint16_t e = (uint16_t)*expected;
		ok = __atomic_compare_exchange_n((uint16_t *)p, &e, (uint16_t)desired, false,
						 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		*expected = widen(type, e);
		break;
	}
	case 4: {
		uint32_t e = (uint32_t)*expected;
		ok = __atomic_compare_exchange_n((uint32_t *)p, &e, (uint32_t)desired, false,
						 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		*expected = widen(type, e);
		break;
	}
	default: {
		uint64_t e = (uint64_t)*expected;
		ok = __atomic_compare_exchange_n((uint64_t *)p, &e, (uint64_t)desired, false,
						 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		*expected = (int64_t)e;
	}
	}
	return ok;
}

/* ---- Value ---- */

int mproc_value_init(struct mproc_value *v, int type, const void *initial)
{
	int size = mproc_ctype_size(type);
	if (!v || size < 0)
		return -EINVAL;
	mproc_rlock_init(&v->lock);
	v->type = (uint32_t)type;
	v->size = (uint32_t)size;
	v->data = 0;
	if (initial)
		memcpy(&v->data, initial, (size_t)size);
	return 0;
}

struct value_args {
	int type;
	const void *initial;
};

static int value_init_cb(void *obj, size_t size, void *arg)
{
	struct value_args *a = arg;
	return mproc_value_init(obj, a->type, a->initial);
}

int mproc_value_open(struct mproc_region *r, const char *name, int type, const void *initial,
		     struct mproc_value **out)
{
	struct value_args a = {type, initial};
	void *p;
	if (mproc_ctype_size(type) < 0)
		return -EINVAL;
	int rc = mproc_region_object(r, name, MPROC_TYPE_VALUE, sizeof(struct mproc_value),
				     value_init_cb, &a, &p);
	if (rc < 0)
		return rc;
	struct mproc_value *v = p;
	if ((int)MPI_LOAD(&v->type) != type)
		return -EEXIST;
	if (out)
		*out = v;
	return 0;
}

/* The validated type of v, or -EBADMSG. */
static int value_type(const struct mproc_value *v)
{
	int type = (int)MPI_LOAD(&v->type);
	int size = mproc_ctype_size(type);
	if (size < 0 || (uint32_t)size != MPI_LOAD(&v->size))
		return -EBADMSG;
	return type;
}

struct mproc_rlock *mproc_value_get_lock(struct mproc_value *v)
{
	return v ? &v->lock : NULL;
}

static int value_copy(struct mproc_value *v, void *dst, const void *src, bool out)
{
	int type;
	if (!v || (out ? !dst : !src))
		return -EINVAL;
	if ((type = value_type(v)) < 0)
		return type;
	int rc = mproc_rlock_acquire(&v->lock, MPROC_FOREVER);
	if (rc < 0 && rc != -EOWNERDEAD)
		return rc;
	if (rc == -EOWNERDEAD)
		mproc_rlock_consistent(&v->lock);	/* a plain value has no invariant */
	size_t n = (size_t)mproc_ctype_size(type);
	if (out)
		memcpy(dst, &v->data, n);
	else
		memcpy(&v->data, src, n);
	mproc_rlock_release(&v->lock);
	return 0;
}

int mproc_value_get(struct mproc_value *v, void *out)
{
	return value_copy(v, out, NULL, true);
}

int mproc_value_set(struct mproc_value *v, const void *in)
{
	return value_copy(v, NULL, in, false);
}

static int value_int_type(const struct mproc_value *v)
{
	if (!v)
		return -EINVAL;
	int type = value_type(v);
	if (type < 0)
		return type;
	return ctype_integer(type) ? type : -EINVAL;
}

int mproc_value_load(const struct mproc_value *v, int64_t *out)
{
	int type = value_int_type(v);
	if (type < 0 || !out)
		return type < 0 ? type : -EINVAL;
	*out = atom_load((void *)&v->data, type);
	return 0;
}

int mproc_value_store(struct mproc_value *v, int64_t x)
{
	int type = value_int_type(v);
	if (type < 0)
		return type;
	atom_store(&v->data, type, x);
	return 0;
}

int mproc_value_fetch_add(struct mproc_value *v, int64_t delta, int64_t *old)
{
	int type = value_int_type(v);
	if (type < 0)
		return type;
	int64_t o = atom_add(&v->data, type, delta);
	if (old)
		*old = o;
	return 0;
}

int mproc_value_compare_exchange(struct mproc_value *v, int64_t *expected, int64_t desired)
{
	int type = value_int_type(v);
	if (type < 0 || !expected)
		return type < 0 ? type : -EINVAL;
	return atom_cas(&v->data, type, expected, desired) ? 1 : 0;
}

/* ---- Array ---- */

static uint64_t array_check(uint32_t type, uint32_t esize, uint64_t length)
{
	uint64_t x = ARRAY_MAGIC ^ ((uint64_t)type << 40) ^ ((uint64_t)esize << 32) ^ length;
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	return x ^ (x >> 32);
}

int64_t mproc_array_bytes(int type, uint64_t length)
{
	int size = mproc_ctype_size(type);
	if (size < 0 || length == 0 || length > ((uint64_t)1 << 40) / (uint64_t)size)
		return -EINVAL;
	return (int64_t)(sizeof(struct mproc_array) + length * (uint64_t)size);
}

int mproc_array_init(struct mproc_array *a, int type, uint64_t length, const void *initial)
{
	int64_t bytes = mproc_array_bytes(type, length);
	if (!a || bytes < 0)
		return -EINVAL;
	mproc_rlock_init(&a->lock);
	a->type = (uint32_t)type;
	a->elem_size = (uint32_t)mproc_ctype_size(type);
	a->length = length;
	a->check = array_check(a->type, a->elem_size, length);
	size_t n = (size_t)bytes - sizeof *a;
	if (initial)
		memcpy(a + 1, initial, n);
	else
		memset(a + 1, 0, n);
	return 0;
}

struct array_args {
	int type;
	uint64_t length;
	const void *initial;
};

static int array_init_cb(void *obj, size_t size, void *arg)
{
	struct array_args *a = arg;
	return mproc_array_init(obj, a->type, a->length, a->initial);
}

int64_t mproc_array_len(const struct mproc_array *a)
{
	if (!a)
		return -EINVAL;
	uint32_t type = MPI_LOAD(&a->type), esize = MPI_LOAD(&a->elem_size);
	uint64_t length = MPI_LOAD(&a->length);
	if (mproc_ctype_size((int)type) != (int)esize || mproc_array_bytes((int)type, length) < 0 ||
	    MPI_LOAD(&a->check) != array_check(type, esize, length))
		return -EBADMSG;
	return (int64_t)length;
}

int mproc_array_open(struct mproc_region *r, const char *name, int type, uint64_t length,
		     const void *initial, struct mproc_array **out)
{
	struct array_args args = {type, length, initial};
	void *p;
	int64_t bytes = mproc_array_bytes(type, length);
	if (bytes < 0)
		return -EINVAL;
	int rc = mproc_region_object(r, name, MPROC_TYPE_ARRAY, (size_t)bytes,
				     array_init_cb, &args, &p);
	if (rc < 0)
		return rc;
	struct mproc_array *a = p;
	/* The directory checked the size; the header must be sound, and name
	 * the same array (same byte size but another type: -EEXIST). */
	int64_t have = mproc_array_len(a);
	if (have < 0)
		return (int)have;
	if (have != (int64_t)length || (int)MPI_LOAD(&a->type) != type)
		return -EEXIST;
	if (out)
		*out = a;
	return 0;
}

struct mproc_rlock *mproc_array_get_lock(struct mproc_array *a)
{
	return a ? &a->lock : NULL;
}

void *mproc_array_data(struct mproc_array *a)
{
	return mproc_array_len(a) < 0 ? NULL : (void *)(a + 1);
}

static int array_span(const struct mproc_array *a, uint64_t start, uint64_t count, size_t *off,
		      size_t *n)
{
	int64_t len = mproc_array_len(a);
	if (len < 0)
		return (int)len;
	if (start > (uint64_t)len || count > (uint64_t)len - start)
		return -ERANGE;
	uint32_t esize = MPI_LOAD(&a->elem_size);
	*off = (size_t)(start * esize);
	*n = (size_t)(count * esize);
	return 0;
}

static int array_copy(struct mproc_array *a, uint64_t start, uint64_t count, void *buf, bool out)
{
	size_t off = 0, n = 0;
	if (!a || (!buf && count))
		return -EINVAL;
	int rc = array_span(a, start, count, &off, &n);
	if (rc < 0)
		return rc;
	rc = mproc_rlock_acquire(&a->lock, MPROC_FOREVER);
	if (rc < 0 && rc != -EOWNERDEAD)
		return rc;
	if (rc == -EOWNERDEAD)
		mproc_rlock_consistent(&a->lock);
	uint8_t *data = (uint8_t *)(a + 1);
	if (n && out)
		memcpy(buf, data + off, n);
	else if (n)
		memcpy(data + off, buf, n);
	mproc_rlock_release(&a->lock);
	return 0;
}

int mproc_array_get(struct mproc_array *a, uint64_t start, uint64_t count, void *out)
{
	return array_copy(a, start, count, out, true);
}

int mproc_array_set(struct mproc_array *a, uint64_t start, uint64_t count, const void *in)
{
	return array_copy(a, start, count, (void *)in, false);
}

static int array_elem(const struct mproc_array *a, uint64_t i, void **p, int *type)
{
	size_t off = 0, n = 0;
	if (!a)
		return -EINVAL;
	int rc = array_span(a, i, 1, &off, &n);
	if (rc < 0)
		return rc;
	*type = (int)MPI_LOAD(&a->type);
	if (!ctype_integer(*type))
		return -EINVAL;
	*p = (uint8_t *)(a + 1) + off;
	return 0;
}

int mproc_array_fetch_add(struct mproc_array *a, uint64_t i, int64_t delta, int64_t *old)
{
	void *p;
	int type, rc = array_elem(a, i, &p, &type);
	if (rc < 0)
		return rc;
	int64_t o = atom_add(p, type, delta);
	if (old)
		*old = o;
	return 0;
}

int mproc_array_load(const struct mproc_array *a, uint64_t i, int64_t *out)
{
	void *p;
	int type, rc = array_elem(a, i, &p, &type);
	if (rc < 0 || !out)
		return rc < 0 ? rc : -EINVAL;
	*out = atom_load(p, type);
	return 0;
}
