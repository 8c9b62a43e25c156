#!/bin/sh
# Build and run every test: the normal build, the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer, and the unit tests under valgrind.
# Installs missing Debian packages first (scripts/deps.sh).
#   STANDINGD_SOAK=1    longer crash/fuzz runs (see README)
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh

setup() { # dir, options...
	dir=$1; shift
	if [ -f "$dir/build.ninja" ]; then
		meson configure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi
}

echo "== build (warnings are errors) =="
setup build -Dwerror=true
ninja -C build
echo "== tests =="
meson test -C build --print-errorlogs

echo "== tests under ASan + UBSan =="
setup build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false \
	-Dc_args=-fno-sanitize-recover=all
ninja -C build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	meson test -C build-asan --print-errorlogs

echo "== unit tests under valgrind =="
STANDINGD_TEST_QUICK=1 meson test -C build --suite unit --print-errorlogs \
	--wrapper 'valgrind --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --quiet' \
	--timeout-multiplier 10
