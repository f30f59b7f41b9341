#!/bin/sh
# Compiles one public header on its own: a translation unit that includes
# only that header (twice, to check its include guard), as strict C11 or as
# C++11, with warnings as errors and no feature-test macros.
#
#   header.sh c|c++ HEADER INCLUDE_ROOT WORK_DIR COMPILER [ARGS...]
#
# Exit: 0 compiled, 1 failed, 77 (skipped) when the compiler is absent.
set -u
lang=$1 header=$2 incroot=$3 workdir=$4
shift 4
if [ $# -eq 0 ] || [ -z "$1" ]; then
	echo "no $lang compiler found: skipped" >&2
	exit 77
fi

if [ ! -f "$incroot/$header" ]; then
	echo "header $incroot/$header not found" >&2
	exit 1
fi

dir=$workdir/headers
mkdir -p "$dir" || exit 1
stem=$(printf '%s' "$header" | tr '/.' '__')
case $lang in
c)
	src=$dir/$stem.c
	std='-std=c11'
	extra='-Wstrict-prototypes -Wmissing-prototypes'
	;;
c++)
	src=$dir/$stem.cpp
	std='-std=c++11'
	extra=''
	;;
*)
	echo "unknown language $lang" >&2
	exit 1
	;;
esac

printf '#include <%s>\n#include <%s>\n' "$header" "$header" > "$src" || exit 1

# -I only the source include directory: the header must find its siblings
# as <mproc/...> and need nothing else from the tree.
# shellcheck disable=SC2086
set -- "$@" $std -Wall -Wextra -Wpedantic -Werror $extra -I "$incroot" -c "$src" -o "$src.o"
echo "$*"
"$@" || { echo "FAIL: <$header> does not compile on its own as $lang" >&2; exit 1; }
echo "ok: <$header> compiles on its own as $lang"
