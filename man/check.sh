#!/bin/sh
# check.sh GROFF PAGE: formats one manual page with every groff warning
# enabled (-ww) and fails on any diagnostic: groff itself exits 0 after a
# warning, so its output is what decides.
out=$("$1" -man -ww -z "$2" 2>&1) || { printf '%s\n' "$out"; exit 1; }
if [ -n "$out" ]; then
	printf '%s\n' "$out"
	exit 1
fi
