#!/bin/sh
# Build and run every test: the normal build, the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer, the unit tests under valgrind, and
# 30 s of libFuzzer per fuzz harness (when clang is there).
# Installs missing Debian packages first (scripts/deps.sh).
#   STANDINGD_CRASH_ITERATIONS=1000   more kill -9 rounds in the crash test (default 100)
#   STANDINGD_TEST_SEED=N             replay the random tests with another seed
#   STANDINGD_FUZZ_SECONDS=600        fuzz each harness longer (default 30)
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

# libFuzzer: each harness of tests/fuzz/ for STANDINGD_FUZZ_SECONDS (30) seconds, in
# its own clang build; one result line per harness for the summary below. A crash
# fails the run and its input is kept under build-libfuzzer/fuzz-artifacts/.
fuzz_seconds=${STANDINGD_FUZZ_SECONDS:-30}
fuzzers="defs cron money varlink api-definition mail records"
fuzz_results=build-libfuzzer/fuzz-results.txt
mkdir -p build-libfuzzer
: >"$fuzz_results"
echo "== fuzzing: ${fuzz_seconds} s per harness (libFuzzer, ASan + UBSan) =="
targets=""
for f in $fuzzers; do targets="$targets tests/fuzz/fuzz-$f"; done
# shellcheck disable=SC2086
if ! command -v clang >/dev/null 2>&1; then
	echo "fuzzing skipped: clang not found (scripts/deps.sh installs it)"
	for f in $fuzzers; do echo "fuzz-$f SKIP" >>"$fuzz_results"; done
elif ! { CC=clang setup build-libfuzzer -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false \
		"-Dc_args=['-fsanitize=fuzzer-no-link','-fno-sanitize-recover=all']" &&
	ninja -C build-libfuzzer $targets; }; then
	echo "fuzzing: the clang build failed"
	for f in $fuzzers; do echo "fuzz-$f FAIL" >>"$fuzz_results"; done
	status=1
else
	for f in $fuzzers; do
		work=build-libfuzzer/fuzz-corpus/$f
		art=build-libfuzzer/fuzz-artifacts/$f
		log=build-libfuzzer/fuzz-$f.log
		rm -rf "$art"
		mkdir -p "$work" "$art"
		if UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 build-libfuzzer/tests/fuzz/fuzz-$f \
			-max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix="$art/" "$work" "tests/fuzz/corpus/$f" >"$log" 2>&1; then
			echo "fuzz-$f: OK, $(sed -n 's/^stat::number_of_executed_units: *//p' "$log") runs"
			echo "fuzz-$f OK" >>"$fuzz_results"
		else
			tail -n 40 "$log"
			echo "fuzz-$f: FAILED (log: $log)"
			for a in "$art"/*; do [ -e "$a" ] && echo "fuzz-$f: crash input: $a"; done
			echo "fuzz-$f FAIL" >>"$fuzz_results"
			status=1
		fi
	done
fi

# The benchmarks' short default (bench/run: N = 2,000, a release tree in build-bench):
# figures only, no thresholds; it fails the run only when it crashes (a daemon that
# exits or never gets READY, a failed call), which its exit status says.
echo "== benchmarks: bench/run (short default, no thresholds) =="
mkdir -p build-bench
if bench/run >build-bench/table.md; then
	cat build-bench/table.md
else
	echo "bench/run: FAILED (crashed; figures are never a failure)"
	status=1
fi

# One closing line over the three runs (meson's own summary is per run) and the fuzzers.
# (meson adds the wrapper's name to the log name: valgrind-valgrind.json)
python3 - build/meson-logs/plain build-asan/meson-logs/asan build/meson-logs/valgrind <<'PY'
import glob, json, sys
passed = failed = skipped = 0
for line in open("build-libfuzzer/fuzz-results.txt").read().splitlines():
    r = line.split()[-1]
    if r == "OK":
        passed += 1
    elif r == "SKIP":
        skipped += 1
    else:
        failed += 1
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
