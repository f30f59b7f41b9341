#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The USDT probes (runtime/probes.h, docs/perf.md) are in the built library:
# every probe of the list below is in .note.stapsdt under provider "mproc",
# at exactly one site (perf probe refuses a second site of the same name),
# and no probe outside the list exists (the list and docs/perf.md stay in
# step with the code).
#
#   test_probes.sh LIBRARY HAVE_SDT
#
# HAVE_SDT=0 (no <sys/sdt.h> at build time): skipped (exit 77).
set -eu

lib=$1
[ "$2" = 1 ] || { echo "built without <sys/sdt.h>: no probes"; exit 77; }
command -v readelf >/dev/null || { echo "readelf missing (binutils)"; exit 77; }

want="futex_wait futex_woke futex_wake ec_wake ring_wait_full ring_wait_empty
	pool_steal pool_worker_died pool_worker_replaced pool_task_failed_by_death
	pool_chunk_failed_by_death lock_owner_dead region_lock_owner_dead
	queue_wait_full queue_wait_empty queue_skip_dead"
want=$(echo $want)	# one line, single spaces

found=$(readelf -n "$lib" | awk '
	/Provider:/ { prov = $2 }
	/Name:/ && prov == "mproc" { print $2 }' | sort)
echo "probes in $lib:"
echo "$found" | uniq -c | sed 's/^/  /'

fail=0
for p in $want; do
	n=$(echo "$found" | grep -cx "$p" || true)
	if [ "$n" -ne 1 ]; then
		echo "FAIL: probe $p found at $n sites (want 1)"
		fail=1
	fi
done
for p in $(echo "$found" | uniq); do
	case " $want " in
	*" $p "*) ;;
	*) echo "FAIL: probe $p is not in the list (tests/test_probes.sh, docs/perf.md)"; fail=1 ;;
	esac
done
[ $fail -eq 0 ] && echo "all $(echo $want | wc -w) probes present, one site each"
exit $fail
