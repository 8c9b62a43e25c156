#!/bin/sh
# Build and run every test: the normal build, the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer, and the unit tests under valgrind.
# Installs missing Debian packages first (scripts/deps.sh).
#   STANDINGD_CRASH_ITERATIONS=1000   more kill -9 rounds in the crash test (default 100)
#   STANDINGD_TEST_SEED=N             replay the random tests with another seed
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

status=0
echo "== build (warnings are errors) =="
setup build -Dwerror=true
ninja -C build
echo "== tests =="
meson test -C build --print-errorlogs --logbase plain || status=1

echo "== tests under ASan + UBSan =="
setup build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false \
	-Dc_args=-fno-sanitize-recover=all
ninja -C build-asan
# The kill -9 rounds are about crash safety, which the plain run covers with 100;
# under the sanitizers 30 rounds check the restart paths for memory errors.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
STANDINGD_CRASH_ITERATIONS=${STANDINGD_CRASH_ITERATIONS_ASAN:-30} \
	meson test -C build-asan --print-errorlogs --logbase asan || status=1

echo "== unit tests under valgrind =="
STANDINGD_TEST_QUICK=1 meson test -C build --suite unit --print-errorlogs --logbase valgrind \
	--wrapper 'valgrind --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --quiet' \
	--timeout-multiplier 10 || status=1

# One closing line over the three runs (meson's own summary is per run).
# (meson adds the wrapper's name to the log name: valgrind-valgrind.json)
python3 - build/meson-logs/plain build-asan/meson-logs/asan build/meson-logs/valgrind <<'PY'
import glob, json, sys
passed = failed = skipped = 0
for base in sys.argv[1:]:
    paths = sorted(glob.glob(base + "*.json"))
    if not paths:
        failed += 1
        continue
    lines = open(paths[0]).read().splitlines()
    for line in lines:
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
