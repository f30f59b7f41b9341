#!/usr/bin/env bash
# mproc developer entry point: installs what is missing, configures, builds,
# and runs one thing.  Every mode is idempotent: run it again at will.
#
#   ./dev.sh test  [-Dopt=val...] [meson test args...]   build/        the test suite
#   ./dev.sh bench [-Dopt=val...] [benchmark args...]    build/        benchmarks -> build/bench.json + ratio table
#                                                                      + charts in build/bench-plots/
#   ./dev.sh bench-counters [bench_counters.py args...]  build-cnt-on/, build-cnt-off/
#                                                                      wait counters on vs off (release builds)
#   ./dev.sh asan  [-Dopt=val...] [meson test args...]   build-asan/   the suite under ASan+UBSan
#   ./dev.sh tsan  [-Dopt=val...] [meson test args...]   build-tsan/   the suite under TSan (clang)
#   ./dev.sh fuzz  [-Dopt=val...] [libFuzzer args...]    build-fuzz/   every fuzz target for $FUZZ_SECONDS (60) each
#   ./dev.sh deps                                                      only install the Debian packages
#
# Arguments of the form -Dname=value go to `meson setup`; the rest go to the
# program the mode runs.  test/asan/tsan end with a line "N passed, N failed"
# (", N skipped" when some were skipped) and exit non-zero when a test or the
# build failed.
#
# Environment: MESON_TESTTHREADS (parallel tests), FUZZ_SECONDS, FUZZ_BUILD_DIR
# (instead of build-fuzz/), CC/CXX (for the first `meson setup` of a build
# directory), ASAN_OPTIONS, UBSAN_OPTIONS, TSAN_OPTIONS (defaults below when
# unset).
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"

# Debian 12 packages the project needs (checked with dpkg-query, installed
# only when absent).
BASE_PKGS=(meson ninja-build pkg-config gcc g++ clang libck-dev liburcu-dev
	libjemalloc-dev libbenchmark-dev python3 systemtap-sdt-dev binutils)
# clang's sanitizer and libFuzzer runtimes (only a Recommends of clang).
CLANG_RT_PKGS=(libclang-rt-14-dev)

log() { printf '>>> %s\n' "$*" >&2; }
die() { printf 'dev.sh: %s\n' "$*" >&2; exit 2; }

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

ensure_pkgs() {
	if ! command -v dpkg-query >/dev/null 2>&1; then
		log "not a Debian system: not checking packages ($*)"
		return 0
	fi
	local missing=() p
	for p in "$@"; do
		if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != 'install ok installed' ]; then
			missing+=("$p")
		fi
	done
	[ ${#missing[@]} -eq 0 ] && return 0

	local sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null 2>&1; then
			if [ -t 0 ]; then sudo=(sudo); else sudo=(sudo -n); fi
		else
			die "missing packages: ${missing[*]} (not root and no sudo: install them by hand)"
		fi
	fi
	log "installing: ${missing[*]}"
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
}

# configure DIR [meson setup args...]: setup, or reconfigure with the given
# options when DIR is already configured.
configure() {
	local dir=$1
	shift
	if [ -f "$dir/meson-private/coredata.dat" ]; then
		log "meson setup --reconfigure $dir $*"
		local out rc=0
		out=$(meson setup --reconfigure "$dir" "$@" 2>&1) || rc=$?
		printf '%s\n' "$out"
		if [ "$rc" -ne 0 ]; then
			# Only a directory made by another Meson version is wiped; an
			# error in a meson.build stays an error.
			case $out in
			*incompatible* | *"--wipe"*)
				log "meson setup --wipe $dir $*"
				meson setup --wipe "$dir" "$@"
				;;
			*) return "$rc" ;;
			esac
		fi
	else
		log "meson setup $dir $*"
		meson setup "$dir" "$@"
	fi
}

# configure_or_count DIR ARGS...: configure; on failure print the count line
# (the suite did not run: one failure) and stop.
configure_or_count() {
	if ! configure "$@"; then
		echo "configuration of $1 failed"
		echo "0 passed, 1 failed"
		exit 1
	fi
}

build() {
	log "ninja -C $1"
	ninja -C "$1"
}

# print_counts LOG: turns meson test's summary in LOG into "N passed, N failed".
print_counts() {
	awk '
		/^Ok:/              { ok += $2 }
		/^Expected Fail:/   { ok += $3 }
		/^Fail:/            { bad += $2 }
		/^Unexpected Pass:/ { bad += $3 }
		/^Timeout:/         { bad += $2 }
		/^Skipped:/         { skip += $2 }
		END {
			line = sprintf("%d passed, %d failed", ok, bad)
			if (skip > 0) line = line sprintf(", %d skipped", skip)
			print line
		}' "$1"
}

# run_suite DIR MULTIPLIER [meson test args...]: builds and runs the suite,
# then prints the count line last.
run_suite() {
	local dir=$1 mult=$2
	shift 2
	local logf=$dir/dev-test.log rc=0
	if ! build "$dir"; then
		echo "build of $dir failed"
		echo "0 passed, 1 failed"
		return 1
	fi
	local targs=(-C "$dir" --print-errorlogs)
	[ "$mult" = 1 ] || targs+=(--timeout-multiplier "$mult")
	log "meson test ${targs[*]} $*"
	meson test "${targs[@]}" "$@" 2>&1 | tee "$logf" || rc=$?
	if ! grep -q '^Ok:' "$logf"; then
		# No summary: no test ran, or meson test itself failed.
		if [ "$rc" -ne 0 ]; then
			echo "meson test failed before running tests (exit $rc)"
			echo "0 passed, 1 failed"
			return 1
		fi
		echo "0 passed, 0 failed"
		return 0
	fi
	print_counts "$logf"
	return "$rc"
}

# Splits "$@" into MESON_ARGS (-D...) and REST_ARGS (everything else).
split_args() {
	MESON_ARGS=()
	REST_ARGS=()
	local a
	for a in "$@"; do
		case $a in
		-D*) MESON_ARGS+=("$a") ;;
		*) REST_ARGS+=("$a") ;;
		esac
	done
}

sanitizer_env() {
	# A forked child that exits with exit() runs LeakSanitizer too; children
	# should leave with _exit() after fork, as the library's own do.
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
	export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
}

mode=${1:-help}
[ $# -gt 0 ] && shift
split_args "$@"

case $mode in
deps)
	ensure_pkgs "${BASE_PKGS[@]}" "${CLANG_RT_PKGS[@]}"
	;;
test)
	ensure_pkgs "${BASE_PKGS[@]}"
	configure_or_count build -Dtests=true ${MESON_ARGS[@]+"${MESON_ARGS[@]}"}
	run_suite build 1 ${REST_ARGS[@]+"${REST_ARGS[@]}"}
	;;
bench)
	ensure_pkgs "${BASE_PKGS[@]}"
	configure build -Dbench=true ${MESON_ARGS[@]+"${MESON_ARGS[@]}"}
	build build
	[ -x build/bench/mproc-bench ] || die "build/bench/mproc-bench was not built"
	log "build/bench/mproc-bench --benchmark_out=build/bench.json ${REST_ARGS[*]-}"
	# 0.2 s per figure: the default run (about a minute on 2 vCPUs); a later
	# --benchmark_min_time among the arguments wins.
	build/bench/mproc-bench --benchmark_min_time=0.2 \
		--benchmark_out=build/bench.json --benchmark_out_format=json \
		${REST_ARGS[@]+"${REST_ARGS[@]}"}
	# Python's multiprocessing on the same workloads, for the table's
	# Python rows (skipped with a warning if it fails).
	log "python3 bench/python_mp.py --out build/python-mp.json"
	python3 bench/python_mp.py --out build/python-mp.json || rm -f build/python-mp.json
	log "python3 tools/bench_table.py build/bench.json build/python-mp.json"
	python3 tools/bench_table.py build/bench.json build/python-mp.json
	# Charts (gnuplot): latency percentiles, throughput vs message size.
	log "python3 tools/bench_plot.py --out build/bench-plots build/bench.json build/python-mp.json"
	python3 tools/bench_plot.py --out build/bench-plots build/bench.json build/python-mp.json ||
		log "no charts (see the message above); the table stands"
	;;
bench-counters)
	# The same benchmarks from a default build and from one with the wait
	# counters compiled out (docs/perf.md), run alternately.
	ensure_pkgs "${BASE_PKGS[@]}"
	configure build-cnt-on -Dbench=true -Dtests=false --buildtype=release
	configure build-cnt-off -Dbench=true -Dtests=false --buildtype=release -Dcounters=false
	build build-cnt-on
	build build-cnt-off
	python3 tools/bench_counters.py build-cnt-on/bench/mproc-bench build-cnt-off/bench/mproc-bench \
		${REST_ARGS[@]+"${REST_ARGS[@]}"}
	;;
asan)
	ensure_pkgs "${BASE_PKGS[@]}" "${CLANG_RT_PKGS[@]}"
	sanitizer_env
	configure_or_count build-asan -Dtests=true -Db_sanitize=address,undefined -Db_lundef=false \
		${MESON_ARGS[@]+"${MESON_ARGS[@]}"}
	run_suite build-asan 2 ${REST_ARGS[@]+"${REST_ARGS[@]}"}
	;;
tsan)
	ensure_pkgs "${BASE_PKGS[@]}" "${CLANG_RT_PKGS[@]}"
	sanitizer_env
	# clang's TSan: same runtime as libFuzzer's toolchain, and one compiler
	# more over the code (its warnings under -Dwerror=true).  The compiler of a
	# build directory is fixed at its first setup.
	CC=${CC:-clang} CXX=${CXX:-clang++} \
		configure_or_count build-tsan -Dtests=true -Db_sanitize=thread -Db_lundef=false \
		${MESON_ARGS[@]+"${MESON_ARGS[@]}"}
	run_suite build-tsan 3 ${REST_ARGS[@]+"${REST_ARGS[@]}"}
	;;
fuzz)
	ensure_pkgs "${BASE_PKGS[@]}" "${CLANG_RT_PKGS[@]}"
	sanitizer_env
	# fuzz/meson.build instruments the targets itself (libFuzzer + ASan/UBSan).
	fdir=${FUZZ_BUILD_DIR:-build-fuzz}
	CC=${CC:-clang} CXX=${CXX:-clang++} \
		configure_or_count "$fdir" -Dfuzz=true ${MESON_ARGS[@]+"${MESON_ARGS[@]}"}
	if ! build "$fdir"; then
		echo "build of $fdir failed"
		echo "0 passed, 1 failed"
		exit 1
	fi
	secs=${FUZZ_SECONDS:-60}
	mkdir -p "$fdir/corpus" "$fdir/artifacts" "$fdir/fuzz-logs"
	targets=()
	# Every libFuzzer binary fuzz/meson.build built (not the plain-main
	# replayers or seed makers), whatever the list of targets is today.
	while IFS= read -r t; do
		if nm "$t" 2>/dev/null | grep '__libfuzzer_is_present' >/dev/null; then targets+=("$t"); fi
	done < <(find "$fdir/fuzz" -maxdepth 1 -type f -perm -u+x 2>/dev/null | sort)
	[ ${#targets[@]} -gt 0 ] || die "no fuzz target built in $fdir/fuzz"
	failed=0
	for t in "${targets[@]}"; do
		name=$(basename "$t")
		corpus=$fdir/corpus/$name
		flog=$fdir/fuzz-logs/$name.log
		mkdir -p "$corpus"
		# -timeout=60: an input slower than that is a hang, with room for a
		# loaded machine (the default, 1200 s, would outlast the run).
		args=(-max_total_time="$secs" -print_final_stats=1 -timeout=60
			-artifact_prefix="$fdir/artifacts/$name-")
		# Seeds and dictionary from fuzz/, read-only: libFuzzer writes new
		# inputs only to the first corpus directory, $corpus.
		for d in "fuzz/corpus/$name" "fuzz/$name.corpus" "fuzz/corpus/${name#fuzz_}" \
			"fuzz/corpus/${name#fuzz-}"; do
			[ -d "$d" ] && args+=("$d")
		done
		for d in "fuzz/$name.dict" "fuzz/${name#fuzz_}.dict" "fuzz/${name#fuzz-}.dict"; do
			if [ -f "$d" ]; then args+=(-dict="$d"); break; fi
		done
		log "$t $corpus ${args[*]} ${REST_ARGS[*]-}  (log: $flog)"
		rc=0
		"$t" "$corpus" "${args[@]}" ${REST_ARGS[@]+"${REST_ARGS[@]}"} >"$flog" 2>&1 || rc=$?
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$flog" | tail -n 1)
		if [ "$rc" -eq 0 ]; then
			echo "fuzz $name: ok (${secs}s, ${execs:-?} executions)"
		else
			# The report (stack, reproducer path) is the log's tail.
			tail -n 40 "$flog"
			echo "fuzz $name: FAILED (exit $rc; input in $fdir/artifacts/, log $flog)"
			failed=$((failed + 1))
		fi
	done
	echo "$((${#targets[@]} - failed)) passed, $failed failed"
	[ "$failed" -eq 0 ]
	;;
help | -h | --help)
	usage
	;;
*)
	usage >&2
	exit 2
	;;
esac
