/* SPDX-License-Identifier: MIT */
/*
 * pingpong.c - the two-process round-trip driver (see pingpong.h).
 */
#include "pingpong.h"

#include <errno.h>

#include "harness.h"

/* Shared between the two processes: the run's parameters, the peer's
 * results, then the transport's state on its own cache lines. */
struct pp_shared {
	uint64_t rounds;	/* warm-up + timed, written before the fork */
	int64_t delay_ns;
	int64_t peer_ctxsw;	/* the peer's voluntary context switches */
	_Alignas(BENCH_CACHE_LINE) unsigned char state[];
};

struct pp_run {
	const struct pp_transport *t;
	struct bench_state *s;
	struct pp_shared *sh;
	size_t sh_size;
	uint64_t warmup;
	struct bench_samples samples;
	struct bench_peer peer;
	struct bench_pin pin;
	struct bench_load load;
	bool inited;		/* the transport's init succeeded */
	int64_t ctxsw;		/* the parent's voluntary context switches */
};

static void peer_loop(void *arg)
{
	struct pp_run *r = arg;
	struct pp_shared *sh = r->sh;
	int64_t csw = bench_vol_ctxsw();

	for (uint32_t i = 0; i < sh->rounds; i++) {
		r->t->recv(sh->state, 1, i);
		if (sh->delay_ns)
			bench_delay_ns(sh->delay_ns);
		r->t->send(sh->state, 1, i);
	}
	sh->peer_ctxsw = bench_vol_ctxsw() - csw;
}

static inline void round_trip(const struct pp_run *r, uint32_t i)
{
	if (r->sh->delay_ns)
		bench_delay_ns(r->sh->delay_ns);
	r->t->send(r->sh->state, 0, i);
	r->t->recv(r->sh->state, 0, i);
}

/* The parent's side, run under the peer watchdog.  The warm-up rounds also
 * wait for the peer to start and let adaptive spinners settle. */
static void parent_loop(void *arg)
{
	struct pp_run *r = arg;
	uint32_t i = 0;

	for (; i < r->warmup; i++)
		round_trip(r, i);
	int64_t csw = bench_vol_ctxsw();
	int64_t *v = r->samples.v;
	uint64_t k = 0;
	int64_t prev = bench_now_ns();
	for (uint64_t n; (n = bench_batch(r->s)) != 0;) {
		for (uint64_t j = 0; j < n; j++, i++) {
			round_trip(r, i);
			int64_t now = bench_now_ns();
			if (k < r->samples.cap)
				v[k++] = now - prev;
			prev = now;
		}
	}
	r->samples.n = k;
	r->ctxsw = bench_vol_ctxsw() - csw;
}

static int pp_setup(struct pp_run *r, const struct pp_config *cfg)
{
	uint64_t n = bench_max_iterations(r->s);

	r->warmup = n / 20 + 1 < 1000 ? n / 20 + 1 : 1000;
	r->sh_size = sizeof *r->sh + r->t->size;
	r->sh = bench_shm_alloc(r->sh_size);
	if (!r->sh)
		return -ENOMEM;
	r->sh->rounds = r->warmup + n;
	r->sh->delay_ns = cfg->delay_ns;
	int rc = r->t->init(r->sh->state);
	if (rc < 0)
		return rc;
	r->inited = true;
	rc = bench_samples_init(&r->samples, n);
	if (rc < 0)
		return rc;
	/* The peer inherits the pinning. */
	if (cfg->same_cpu && (rc = bench_pin_one_cpu(&r->pin)) < 0)
		return rc;
	bench_settle_affinity(cfg->same_cpu);
	return bench_peer_start(&r->peer, peer_loop, r);
}

static void pp_report(struct pp_run *r)
{
	uint64_t n = r->samples.n;

	bench_samples_report(&r->samples, r->s);
	bench_load_report(&r->load, r->s);
	if (n == 0)
		return;
	/* Sleeps per round trip; the peer's figure includes its warm-up. */
	double peer = (double)r->sh->peer_ctxsw * (double)n / (double)r->sh->rounds;
	bench_counter(r->s, "sleeps_per_rt", ((double)r->ctxsw + peer) / (double)n);
	if (r->t->report)
		r->t->report(r->sh->state, r->s, r->sh->rounds);
}

void pp_bench(struct bench_state *s)
{
	const struct pp_config *cfg = bench_ctx(s);
	struct pp_run r = { .t = cfg->t, .s = s };
	int rc = pp_setup(&r, cfg);

	if (rc < 0) {
		bench_error(s, "ping-pong set-up failed");
	} else {
		bench_load_start(&r.load);
		int grc = bench_peer_guard(&r.peer, parent_loop, &r);
		int jrc = bench_peer_join(&r.peer);
		if (grc < 0 || jrc < 0)
			bench_error(s, bench_peer_strerror(grc < 0 ? grc : jrc));
		else
			pp_report(&r);
	}
	bench_unpin(&r.pin);
	if (r.inited && r.t->fini)
		r.t->fini(r.sh->state);
	bench_samples_free(&r.samples);
	bench_shm_free(r.sh, r.sh_size);
}
