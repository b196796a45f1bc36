#!/bin/sh
# Runs every suite (Check suites for the core, the layering of core/, Lua tests through bin/tau,
# the REPL test) and closes with one summary line. TAU names the interpreter (the ASan build
# sets it).
BUILD=${BUILD:-build}
TAU=${TAU:-bin/tau}
export TAU
passed=0; failed=0; skipped=0; broken=""
log=$(mktemp); trap 'rm -f "$log"' EXIT
# No case may depend on an idle machine: Check's 4-second default is raised for every case that
# sets no timeout of its own, and sanitizer or valgrind runs multiply every timeout
# (CK_TIMEOUT_MULTIPLIER, set by the asan target) since they run several times slower.
export CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-120}

count() { # $1: suite name; reads the suite's output in $log; $2: exit status
    p=0; f=0; s=0
    line=$(grep -E '^[0-9]+%: Checks: [0-9]+' "$log" | tail -n 1)
    if [ -n "$line" ]; then
        n=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
        f=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
        e=$(echo "$line" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
        f=$((f + e)); p=$((n - f))
    else
        line=$(grep -E '^([A-Za-z]+: )?[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
        if [ -n "$line" ]; then
            p=$(echo "$line" | sed -E 's/^([A-Za-z]+: )?([0-9]+) passed.*/\2/')
            f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
            case "$line" in *skipped*) s=$(echo "$line" | sed -E 's/.* ([0-9]+) skipped.*/\1/');; esac
        fi
    fi
    # suites without a skip count of their own announce each skip on a line
    case "$line" in *skipped*) ;; *) s=$((s + $(grep -c '^skipped: ' "$log")));; esac
    if [ "$2" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi   # a crash counts as a failure
    [ "$f" -ne 0 ] && broken="$broken $1"
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    echo "== $1: $p passed, $f failed, $s skipped"
}

# The suites are named from their sources, so a binary left in the build tree by a suite that
# has since been renamed or removed is not run.
for src in tests/core/test_*.c; do
    name=$(basename "$src" .c); t="$BUILD/tests/$name"
    echo "== $name"
    CK_VERBOSITY=${CK_VERBOSITY:-normal} "$t" >"$log" 2>&1; rc=$?
    grep -vE '^$' "$log" | grep -E 'skipped:|%: Checks|:[EF]:' | head -50
    count "$name" $rc
done

echo "== layers"
BUILD="$BUILD" sh tests/core/layers.sh >"$log" 2>&1; rc=$?
grep -E '^(not ok|  )|passed, ' "$log" | head -40
count "layers" $rc

echo "== lua tests"
"$TAU" tests/lua/run.lua >"$log" 2>&1; rc=$?
grep -E '^(not ok|skipped:)|passed, ' "$log" | head -80
count "lua" $rc

if [ -f tests/repl/test_repl.sh ]; then
    echo "== repl"
    sh tests/repl/test_repl.sh >"$log" 2>&1; rc=$?
    grep -E '^(not ok|skipped)|passed, ' "$log" | head -40
    count "repl" $rc
fi

[ -n "$broken" ] && echo "failing suites:$broken"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
