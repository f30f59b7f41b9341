#!/usr/bin/env bash
# models/check.sh [--full] [-k]: model-checks the Promela models with spin.
#
# Every model runs once as written (spin must find no error, and the search
# must be complete) and once per seeded bug (-DBUG=n: spin must find an
# error, which shows the checks can fail).  A line per run says what was
# checked, how many states were explored and what was found.  --full adds
# the large configurations (minutes and a few GiB); -k keeps the work
# directory.  Runs go $MODEL_JOBS (default: the CPU count) at a time.  The last line is "1 passed, 0 failed" (or "0 passed, 1
# failed"): CI counts the whole model check as one test.  Exit status 0
# only when every run went as expected.
#
# Needs spin (Debian package "spin") and a C compiler; as root in a
# non-interactive session (CI) a missing spin is installed with apt-get.
set -uo pipefail

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
full=0
keep=0
for a in "$@"; do
	case $a in
	--full) full=1 ;;
	-k) keep=1 ;;
	-h | --help)
		sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "check.sh: unknown argument $a" >&2
		exit 2
		;;
	esac
done

if ! command -v spin >/dev/null 2>&1; then
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo ">>> installing spin"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q spin >/dev/null 2>&1 ||
			{ DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 &&
				DEBIAN_FRONTEND=noninteractive apt-get install -y -q spin >/dev/null 2>&1; }
	fi
	if ! command -v spin >/dev/null 2>&1; then
		echo "check.sh: spin is not installed (apt-get install spin)"
		echo "0 passed, 1 failed"
		exit 1
	fi
fi
CC=${CC:-cc}

work=$(mktemp -d /tmp/mproc-models.XXXXXX)
if [ "$keep" -eq 0 ]; then
	trap 'rm -rf "$work"' EXIT
else
	echo "work directory: $work"
fi
cp "$here"/*.pml "$here"/*.h "$work"/

runs=0
jobs=${MODEL_JOBS:-$(nproc 2>/dev/null || echo 2)}
# the large configurations take GiBs each: one at a time
[ "$full" -eq 1 ] && [ -z "${MODEL_JOBS:-}" ] && jobs=1
order=()	# "H<title>" for a heading, else a run's directory

heading() {
	order+=("H$1")
}

# run MODEL EXPECT "DEFINES" [MEMLIM_MB]: EXPECT is pass (no error and a
# complete search), fail (spin must find an error: a seeded bug) or known
# (a finding against the committed code, reported, not counted as bad).
# Runs go in the background, $jobs at a time; results print in order.
run() {
	local dir="$work/run$runs"
	runs=$((runs + 1))
	order+=("$dir")
	mkdir -p "$dir"
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
		wait -n
	done
	one "$dir" "$@" &
}

# one DIR MODEL EXPECT DEFINES [MEMLIM]: writes DIR/result ("ok"/"bad"
# first word, then the line to print) and DIR/states.
one() {
	local dir=$1 model=$2 expect=$3 defs=$4 memlim=${5:-1024}
	local t0 t1 out states errors what incomplete opt=-O2 line verdict=ok
	cp "$work"/*.pml "$work"/*.h "$dir"/
	# seeded bugs end in a few states: compile fast rather than well
	[ "$expect" = pass ] || opt=-O0
	t0=$(date +%s)
	echo 0 >"$dir/states"
	# shellcheck disable=SC2086 # defs is a list of -D options
	if ! (cd "$dir" && spin $defs -a "$model" >spin.log 2>&1); then
		{ echo "bad FAIL  $model $defs: spin -a failed"; sed 's/^/      /' "$dir/spin.log" | head -20; } >"$dir/result"
		return
	fi
	# -DSAFETY: safety properties (assertions, invalid end states);
	# -DCOLLAPSE: exact state compression; MEMLIM bounds the memory.
	if ! (cd "$dir" && $CC $opt -w -DSAFETY -DCOLLAPSE -DMEMLIM="$memlim" -o pan pan.c \
		>cc.log 2>&1); then
		{ echo "bad FAIL  $model $defs: compiling pan failed"; sed 's/^/      /' "$dir/cc.log" | head -20; } >"$dir/result"
		return
	fi
	(cd "$dir" && ./pan -m500000 -w24 -n >pan.log 2>&1)
	t1=$(date +%s)
	out="$dir/pan.log"
	states=$(awk '/states, stored/ { print $1; exit }' "$out")
	states=${states:-0}
	echo "$states" >"$dir/states"
	errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$out" | head -n 1)
	errors=${errors:-?}
	what=$(grep -m1 -E '^pan:[0-9]+: ' "$out" | sed -E 's/^pan:[0-9]+: //; s/ \(at depth [0-9]+\)//')
	incomplete=0
	grep -qE 'Search not completed|max search depth too small|reached -DMEMLIM|out of memory' \
		"$out" && incomplete=1
	local tag="$model${defs:+ $defs}"
	case $expect in
	pass)
		if [ "$errors" = 0 ] && [ "$incomplete" -eq 0 ]; then
			line=$(printf 'ok    %-56s %9s states, no error (%ss)' "$tag" "$states" "$((t1 - t0))")
		else
			verdict=bad
			line=$(printf 'FAIL  %-56s %9s states, errors: %s%s (%ss)' "$tag" "$states" "$errors" \
				"$([ "$incomplete" -eq 1 ] && echo ', search incomplete')" "$((t1 - t0))")
			[ -n "$what" ] && line+=$'\n'"      $what"
			line+=$'\n'"      trail: spin $defs -t -p $model   (in $dir; check.sh -k keeps it)"
		fi
		;;
	fail | known)
		if [ "$errors" != 0 ] && [ "$errors" != '?' ]; then
			line=$(printf 'ok    %-56s %9s states, %s: %s' "$tag" "$states" \
				"$([ "$expect" = known ] && echo 'known finding reproduced' || echo 'seeded bug found')" \
				"$what")
		else
			# A known finding that no longer reproduces: the code was
			# fixed, and the model should follow (not a failure).
			[ "$expect" = fail ] && verdict=bad
			line=$(printf '%s  %-56s %9s states, the %s was NOT found' \
				"$([ "$expect" = known ] && echo 'note' || echo 'FAIL')" "$tag" "$states" \
				"$([ "$expect" = known ] && echo 'known finding' || echo 'seeded bug')")
		fi
		;;
	esac
	printf '%s %s\n' "$verdict" "$line" >"$dir/result"
}

heading "event count (runtime/wait.c: ck_ec32 multi-producer + mproc_ec_wait)"
run ec_wait.pml pass ""
run ec_wait.pml fail "-DBUG=1"
run ec_wait.pml fail "-DBUG=2"
run ec_wait.pml fail "-DBUG=3"

heading "Lock (runtime/lock.c, include/mproc/sync.h: 79948f5 plus the standby against finding 5), x86-TSO"
run lock.pml pass "-DNCPU=2 -DITERS=2 -DDEATHS=1"
run lock.pml pass "-DNCPU=2 -DITERS=3 -DDEATHS=0"
run lock.pml pass "-DNCPU=3 -DITERS=1 -DDEATHS=0"
run lock.pml pass "-DNCPU=3 -DITERS=1 -DDEATHS=1 -DWOKEN_DEATH_ONLY"
run lock.pml fail "-DNCPU=2 -DITERS=2 -DBUG=1"
run lock.pml fail "-DNCPU=2 -DITERS=2 -DBUG=2"
run lock.pml fail "-DNCPU=2 -DITERS=2 -DBUG=3"
run lock.pml fail "-DNCPU=2 -DITERS=2 -DBUG=4"
run lock.pml fail "-DNCPU=3 -DITERS=1 -DDEATHS=0 -DBUG=5 -DNO_STANDBY"
# finding 5: the protocol of 79948f5, no standby
run lock.pml fail "-DNCPU=3 -DITERS=1 -DDEATHS=1 -DWOKEN_DEATH_ONLY -DBUG=6"
if [ "$full" -eq 1 ]; then
	run lock.pml pass "-DNCPU=3 -DITERS=1 -DDEATHS=1" 4096
	run lock.pml pass "-DNCPU=2 -DITERS=2 -DDEATHS=2" 4096
	run lock.pml fail "-DNCPU=3 -DITERS=1 -DDEATHS=1 -DBUG=6" 4096
fi

heading "SPSC ring (runtime/ring.c, include/mproc/ring.h as of 29a9244: ed93319's single calls, bursts, chain resync, BULK records), x86-TSO"
# single calls: one death at any point, those of findings 4 and 1 included
# (the knobs add death points to the default ones), against the code that
# fixed them
run ring.pml pass "-DMSGS=3 -DSTRANDED=1 -DPUBLISH_DEATH=1" 2048
# bursts (runs of up to 3 records) mixed with every single call, over a
# data area of junk; from 5 in 7 units a burst also meets the end of the
# buffer (pads inside runs and leading them) and waits for room
run ring.pml pass "-DMSGS=3 -DCAP=7 -DSTART=5 -DBURST=3 -DRBURST=3 -DJUNK=1 -DDEATHS=0" 2048
# a producer killed anywhere in a burst, a resyncing next one; from 4, a
# burst makes a run with a pad inside, or two runs, the second led by a
# pad, and refreshes the head after the first was taken
run ring.pml pass "-DMSGS=2 -DBURST=2 -DRBURST=2 -DJUNK=1 -DPEEK=0 -DCDEATHS=0 -DSTART=4 -DPUB=3" 2048
run ring.pml fail "-DMSGS=3 -DDEATHS=0 -DBUG=1"
run ring.pml fail "-DMSGS=3 -DDEATHS=0 -DBUG=2"
run ring.pml fail "-DMSGS=3 -DCAP=6 -DDEATHS=0 -DPEEK=0 -DBUG=3"
run ring.pml fail "-DMSGS=3 -DDEATHS=0 -DBUG=4"
# findings 4 and 1 as they were before ed93319, and ed93319 without its resync
run ring.pml fail "-DMSGS=2 -DCAP=6 -DSTRANDED=1 -DPEEK=0 -DBUG=5"
run ring.pml fail "-DMSGS=3 -DPUBLISH_DEATH=1 -DBUG=6"
run ring.pml fail "-DMSGS=3 -DPUBLISH_DEATH=1 -DBUG=7"
# the bursts' seeded bugs; 11 is the resync of ed93319 against bursts
run ring.pml fail "-DMSGS=2 -DBURST=2 -DRBURST=2 -DJUNK=1 -DPEEK=0 -DSTART=4 -DPUB=3 -DDEATHS=0 -DBUG=8"
run ring.pml fail "-DMSGS=2 -DBURST=2 -DRBURST=2 -DJUNK=1 -DPEEK=0 -DSTART=4 -DPUB=3 -DDEATHS=0 -DBUG=9"
run ring.pml fail "-DMSGS=2 -DBURST=2 -DRBURST=2 -DJUNK=1 -DPEEK=0 -DSTART=4 -DPUB=3 -DCDEATHS=0 -DBUG=10"
run ring.pml fail "-DMSGS=2 -DBURST=2 -DRBURST=2 -DJUNK=1 -DPEEK=0 -DSTART=4 -DPUB=3 -DCDEATHS=0 -DBUG=11"
run ring.pml fail "-DMSGS=2 -DBURST=2 -DRBURST=2 -DJUNK=1 -DPEEK=0 -DSTART=4 -DPUB=3 -DDEATHS=0 -DBUG=12"
run ring.pml fail "-DMSGS=2 -DBURST=2 -DRBURST=2 -DJUNK=1 -DPEEK=0 -DSTART=4 -DPUB=3 -DDEATHS=0 -DBUG=13"
run ring.pml fail "-DMSGS=3 -DBURST=2 -DRBURST=2 -DJUNK=1 -DPEEK=0 -DDEATHS=0 -DBUG=14"
run ring.pml fail "-DMSGS=2 -DBURST=2 -DRBURST=2 -DJUNK=1 -DPEEK=0 -DSTART=4 -DPUB=3 -DDEATHS=0 -DBUG=15"
# the finding against 08b7de4 (a burst's head refresh after a run of its own
# was taken said -EBADMSG, head being past the tail the burst started from,
# and ended the burst early; nothing lost): fixed, the check passes, and the
# old refresh is seeded bug 16 (ring.pml's comment)
run ring.pml pass "-DMSGS=2 -DBURST=2 -DRBURST=2 -DJUNK=1 -DPEEK=0 -DSTART=4 -DPUB=3 -DDEATHS=0 -DHEAD_PAST_CHECK=1"
run ring.pml fail "-DMSGS=2 -DBURST=2 -DRBURST=2 -DJUNK=1 -DPEEK=0 -DSTART=4 -DPUB=3 -DDEATHS=0 -DHEAD_PAST_CHECK=1 -DBUG=16"
# BULK records (5e3815f, 29a9244), published by tail: single sends and
# reservations mixed with DATA ones (shorter commits included), one death
# anywhere (after every store of a BULK publication, between a DATA header
# and tail, between publish and wake-up), the dead producer's successor
# resyncing or only closing the end, the consumer's by_tail
run ring.pml pass "-DMSGS=2 -DBULK=1 -DSTRANDED=1 -DPUBLISH_DEATH=1 -DCLOSE_DEAD=1" 2048
# from 5 in 7 units over junk: pads before BULK records (and the resync
# over a pad to a BULK header never published)
run ring.pml pass "-DMSGS=2 -DBULK=2 -DSTART=5 -DCAP=7 -DJUNK=1 -DCDEATHS=0 -DPEEK=0" 2048
# receive bursts meeting BULK records, either side killed
run ring.pml pass "-DMSGS=2 -DBULK=1 -DRBURST=2 -DPEEK=0" 2048
# the BULK bugs: no tail check, no second read of the header, a resync
# over a BULK header, the header after tail, a receive burst without the
# tail check, the pad before the header
run ring.pml fail "-DMSGS=2 -DBULK=2 -DDEATHS=0 -DBUG=17"
run ring.pml fail "-DMSGS=2 -DBULK=2 -DDEATHS=0 -DBUG=18"
run ring.pml fail "-DMSGS=2 -DBULK=2 -DBUG=19"
run ring.pml fail "-DMSGS=2 -DBULK=2 -DBUG=20"
run ring.pml fail "-DMSGS=2 -DBULK=2 -DRBURST=2 -DDEATHS=0 -DBUG=21"
run ring.pml fail "-DMSGS=2 -DBULK=2 -DSTART=5 -DCAP=7 -DDEATHS=0 -DBUG=22"
# the finding against 5e3815f (ring.pml's comment), fixed by 29a9244: after
# a BULK record cons_next went by tail, so a DATA record whose producer died
# between its header and tail was lost at EOF when the end was then closed
# with no resync; the first BULK run above checks the fix
run ring.pml fail "-DMSGS=2 -DBULK=1 -DPUBLISH_DEATH=1 -DCLOSE_DEAD=1 -DCDEATHS=0 -DPEEK=0 -DBUG=23"
if [ "$full" -eq 1 ]; then
	run ring.pml pass "-DMSGS=4 -DDEATHS=1" 6144
	# every start, every call, either side killed
	run ring.pml pass "-DMSGS=2 -DBURST=2 -DRBURST=2 -DJUNK=1 -DSTART=-1" 4096
	# runs of 3, the producer killed after any store, or between runs
	run ring.pml pass "-DMSGS=3 -DBURST=3 -DRBURST=3 -DJUNK=1 -DSINGLES=0 -DPEEK=0 -DCDEATHS=0 -DFINE_DEATHS=1" 4096
	run ring.pml pass "-DMSGS=3 -DBURST=3 -DRBURST=3 -DJUNK=1 -DSINGLES=0 -DPEEK=0 -DCDEATHS=0 -DPUB=3" 4096
	# a burst that waits for room, the producer killed anywhere
	run ring.pml pass "-DMSGS=3 -DCAP=6 -DBURST=2 -DRBURST=2 -DJUNK=1 -DPEEK=0 -DCDEATHS=0" 4096
	# BULK: three messages (a lap: an older lap's headers ahead), the
	# producer killed anywhere
	run ring.pml pass "-DMSGS=3 -DBULK=2 -DCDEATHS=0 -DPEEK=0" 4096
	# BULK and DATA mixed with pads and receive bursts
	run ring.pml pass "-DMSGS=2 -DBULK=1 -DSTART=5 -DCAP=7 -DRBURST=2 -DCDEATHS=0 -DPEEK=0" 4096
	# BULK single sends among send bursts, over junk
	run ring.pml pass "-DMSGS=3 -DBURST=2 -DRBURST=2 -DBULK=1 -DJUNK=1 -DPEEK=0 -DCDEATHS=0 -DDEATHS=0" 4096
fi

heading "Queue (runtime/queue.c as of 166b267), x86-TSO"
run queue.pml pass "-DNPROD=1 -DNCONS=2 -DITEMS=2 -DDEATHS=0"
run queue.pml pass "-DNPROD=2 -DNCONS=1 -DITEMS=1 -DDEATHS=1"
run queue.pml pass "-DNPROD=1 -DNCONS=2 -DITEMS=1 -DDEATHS=1"
run queue.pml pass "-DNPROD=1 -DNCONS=1 -DITEMS=3 -DDEATHS=1"
run queue.pml pass "-DNPROD=1 -DNCONS=1 -DITEMS=2 -DNSLOT=2 -DMAXSIZE=1 -DDEATHS=1"
# the death points of findings 2, 3 and 6, against the code that fixed them
run queue.pml pass "-DNPROD=1 -DNCONS=1 -DITEMS=3 -DREADER_HOLD_DEATH=1"
run queue.pml pass "-DNPROD=1 -DNCONS=1 -DITEMS=3 -DCLAIM_TAIL_DEATH=1"
run queue.pml pass "-DNPROD=1 -DNCONS=1 -DITEMS=3 -DDEATHS=2"
run queue.pml fail "-DNPROD=1 -DNCONS=1 -DITEMS=2 -DDEATHS=0 -DBUG=1"
run queue.pml fail "-DNPROD=1 -DNCONS=2 -DITEMS=2 -DDEATHS=0 -DBUG=2"
run queue.pml fail "-DNPROD=1 -DNCONS=1 -DITEMS=2 -DDEATHS=0 -DBUG=3"
run queue.pml fail "-DNPROD=1 -DNCONS=1 -DITEMS=2 -DDEATHS=1 -DBUG=4"
run queue.pml fail "-DNPROD=1 -DNCONS=1 -DITEMS=3 -DREADER_HOLD_DEATH=1 -DBUG=5"
# findings 2, 3 and 6 as they were before 166b267
run queue.pml fail "-DNPROD=1 -DNCONS=1 -DITEMS=3 -DCLAIM_TAIL_DEATH=1 -DBUG=6"
run queue.pml fail "-DNPROD=1 -DNCONS=1 -DITEMS=3 -DREADER_HOLD_DEATH=1 -DBUG=7"
run queue.pml fail "-DNPROD=1 -DNCONS=1 -DITEMS=3 -DDEATHS=2 -DBUG=8"
if [ "$full" -eq 1 ]; then
	run queue.pml pass "-DNPROD=1 -DNCONS=2 -DITEMS=2 -DREADER_HOLD_DEATH=1" 4096
	run queue.pml pass "-DNPROD=2 -DNCONS=2 -DITEMS=1 -DDEATHS=1" 4096
fi

wait

bad=0
total_states=0
for d in "${order[@]}"; do
	case $d in
	H*)
		echo "== ${d#H}"
		continue
		;;
	esac
	if [ ! -f "$d/result" ]; then
		echo "FAIL  (no result in $d)"
		bad=$((bad + 1))
		continue
	fi
	r=$(cat "$d/result")
	[ "${r%% *}" = ok ] || bad=$((bad + 1))
	printf '%s\n' "${r#* }"
	total_states=$((total_states + $(cat "$d/states")))
done
echo
echo "models: $runs runs, $total_states states explored in all, $bad not as expected"
if [ "$bad" -eq 0 ]; then
	echo "1 passed, 0 failed"
	exit 0
fi
echo "0 passed, 1 failed"
exit 1
