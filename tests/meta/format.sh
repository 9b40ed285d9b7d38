#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# format.sh SRCROOT - every milter/*.c and *.h is as clang-format (the
# project's .clang-format) writes it; names the files that are not.
# Fix with: clang-format -i milter/*.[ch]
cd "$1" || exit 2
command -v clang-format >/dev/null ||
	{ echo "clang-format is not installed (tests/packages.txt)"; exit 1; }
bad=0
for f in milter/*.c milter/*.h; do
	if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f"
		bad=$((bad + 1))
	fi
done
echo "$bad file(s) not formatted"
[ "$bad" -eq 0 ]
