#!/bin/sh
# Installs the build into a temporary DESTDIR and checks it as a user would
# see it:
#   - every header of include/ is installed, unchanged;
#   - `pkg-config --cflags --libs mproc` alone builds and links installed.c,
#     which creates an anonymous region, allocates from it and closes it, and
#     runs against the installed libmproc.so (LD_LIBRARY_PATH);
#   - the same through `pkg-config --static` and the installed libmproc.a;
#   - `nm -D` of the installed libmproc.so shows only mproc_* symbols.
#
#   install.sh INSTALLED_C COMPILER [ARGS...]
# Environment (set by tests/build/meson.build): MPROC_BUILD_ROOT,
# MPROC_WORK_DIR, MPROC_SRC_INCLUDE, MPROC_PREFIX, MPROC_LIBDIR,
# MPROC_INCLUDEDIR, MPROC_SANITIZE, MPROC_DEFAULT_LIBRARY, MPROC_MESON,
# MPROC_PKG_CONFIG, MPROC_NM.
#
# Exit: 0 ok, 1 failed, 77 (skipped) when meson, pkg-config or nm is absent.
set -u
prog_src=$1
shift

fail() {
	echo "FAIL: $*" >&2
	echo "(install tree kept in $dest)" >&2
	exit 1
}

for tool in MPROC_MESON MPROC_PKG_CONFIG MPROC_NM; do
	eval "val=\${$tool:-}"
	if [ -z "$val" ]; then
		echo "$tool: program not found: skipped" >&2
		exit 77
	fi
done

mkdir -p "$MPROC_WORK_DIR" || exit 1
dest=$(mktemp -d "$MPROC_WORK_DIR/install.XXXXXX") || exit 1
dest=$(cd "$dest" && pwd -P)

# Without --no-rebuild: `meson test` builds only what tests depend on, and
# install needs every installable target (this test runs alone, so the
# nested ninja cannot race another test's build).
echo "== meson install --destdir $dest"
if ! "$MPROC_MESON" install -C "$MPROC_BUILD_ROOT" --destdir "$dest" \
	> "$dest.log" 2>&1; then
	cat "$dest.log" >&2
	fail "meson install failed"
fi
rm -f "$dest.log"

case $MPROC_PREFIX in /*) ;; *) fail "prefix '$MPROC_PREFIX' is not absolute" ;; esac
root=$dest$MPROC_PREFIX
case $MPROC_LIBDIR in /*) libdir=$dest$MPROC_LIBDIR ;; *) libdir=$root/$MPROC_LIBDIR ;; esac
case $MPROC_INCLUDEDIR in
/*) incdir=$dest$MPROC_INCLUDEDIR ;;
*) incdir=$root/$MPROC_INCLUDEDIR ;;
esac

echo "== installed headers"
nhdr=0
for h in "$MPROC_SRC_INCLUDE"/mproc.h "$MPROC_SRC_INCLUDE"/mproc/*.h; do
	[ -f "$h" ] || continue
	rel=${h#"$MPROC_SRC_INCLUDE"/}
	[ -f "$incdir/$rel" ] || fail "header $rel is not installed (install_headers in include/meson.build?)"
	cmp -s "$h" "$incdir/$rel" || fail "installed $rel differs from include/$rel"
	nhdr=$((nhdr + 1))
done
[ "$nhdr" -gt 0 ] || fail "no header found in $MPROC_SRC_INCLUDE"
echo "ok: $nhdr headers installed"

pcdir=$libdir/pkgconfig
[ -f "$pcdir/mproc.pc" ] || fail "$pcdir/mproc.pc is not installed"
PKG_CONFIG_PATH=$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export PKG_CONFIG_PATH
pc() {
	"$MPROC_PKG_CONFIG" --define-variable=prefix="$root" "$@" mproc
}
cflags=$(pc --cflags) || fail "pkg-config --cflags mproc failed"
libs=$(pc --libs) || fail "pkg-config --libs mproc failed"
echo "pkg-config --cflags --libs mproc: $cflags $libs"
case " $cflags " in *" -I$incdir "*) ;; *) fail "cflags do not point into the install ($incdir)" ;; esac
case " $libs " in *" -L$libdir "*) ;; *) fail "libs do not point into the install ($libdir)" ;; esac

san=
case ${MPROC_SANITIZE:-none} in none | '') ;; *) san=-fsanitize=$MPROC_SANITIZE ;; esac

shared_so=$libdir/libmproc.so
if [ -e "$shared_so" ]; then
	echo "== shared: build and run against $shared_so"
	# shellcheck disable=SC2086
	"$@" -std=c11 -Wall -Wextra -Werror $san $cflags "$prog_src" -o "$dest/installed" $libs ||
		fail "cannot build a program with pkg-config --cflags --libs mproc"
	out=$(LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$dest/installed") ||
		{ printf '%s\n' "$out"; fail "the program built against the installed library failed"; }
	printf '%s\n' "$out"
	case $out in
	*"mapped: $libdir/libmproc.so"*) ;;
	*) fail "the program did not load libmproc from $libdir" ;;
	esac

	echo "== exported symbols of $shared_so"
	syms=$("$MPROC_NM" -D --defined-only "$shared_so") || fail "nm -D failed"
	# Version nodes (MPROC_0) are absolute symbols, not exports: skip type A.
	names=$(printf '%s\n' "$syms" | awk 'NF >= 3 && $2 != "A" { sub(/@.*/, "", $3); print $3 }')
	bad=$(printf '%s\n' "$names" | grep -v '^mproc_' | grep -v '^$')
	total=$(printf '%s\n' "$names" | grep -c '^mproc_')
	if [ -n "$bad" ]; then
		printf '%s\n' "$bad" | sed 's/^/  not mproc_: /' >&2
		fail "libmproc.so exports symbols outside the mproc_ namespace"
	fi
	printf '%s\n' "$names" | grep -qx 'mproc_region_create' ||
		fail "libmproc.so does not export mproc_region_create"
	echo "ok: $total symbols exported, all mproc_*"
else
	[ "${MPROC_DEFAULT_LIBRARY:-shared}" = static ] || fail "$shared_so is not installed"
fi

static_a=$libdir/libmproc.a
if [ -e "$static_a" ]; then
	echo "== static: build and run against $static_a"
	slibs=$(pc --static --libs) || fail "pkg-config --static --libs mproc failed"
	echo "pkg-config --static --libs mproc: $slibs"
	# Force the archive (a plain -lmproc picks the .so) and keep the rest.
	slibs=$(printf '%s\n' "$slibs" | sed "s|-lmproc\\b|$static_a|")
	# shellcheck disable=SC2086
	"$@" -std=c11 -Wall -Wextra -Werror $san $cflags "$prog_src" -o "$dest/installed-static" \
		$slibs || fail "cannot link statically with pkg-config --static --libs mproc"
	out=$(env -u LD_LIBRARY_PATH "$dest/installed-static") ||
		{ printf '%s\n' "$out"; fail "the statically linked program failed"; }
	printf '%s\n' "$out"
	case $out in *"mapped:"*) fail "the static program still loaded a libmproc.so" ;; esac
fi

rm -rf "$dest"
echo "ok: installed library usable through pkg-config"
