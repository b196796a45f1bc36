#!/bin/sh
# The floors of core/ (core/tau.h), checked on the built objects: every symbol an object uses
# from another core file must be defined on its own floor or on one it may use. Include lines
# can mislead (a declaration copied into a .c file); the linker's view cannot.
BUILD=${BUILD:-build}
# floor: the floors below it that it may use
USES='base:
tensor:base
nn:tensor base
robust:nn tensor base
data:base
analysis:tensor base'

[ -d "$BUILD/core" ] || { echo "layers: no $BUILD/core (build first)"; echo "layers: 0 passed, 1 failed"; exit 1; }
defs=$(mktemp); trap 'rm -f "$defs"' EXIT
# Objects are named from the sources, so a stale object left in the build tree by a file that
# has since moved or gone is never judged.
for c in $(find core -name '*.c' | sort); do
    o="$BUILD/${c%.c}.o"
    f=${c#core/}; f=${f%%/*}
    nm -g --defined-only "$o" | awk -v f="$f" -v o="${o#"$BUILD/"}" 'NF == 3 { print $3, f, o }'
done >"$defs"

passed=0; failed=0
for floor in $(ls core); do
    [ -d "core/$floor" ] || continue
    if ! echo "$USES" | grep -q "^$floor:"; then
        echo "not ok: core/$floor is not in the table of floors (tests/core/layers.sh, core/tau.h)"
        failed=$((failed + 1)); continue
    fi
    allowed="$floor $(echo "$USES" | grep "^$floor:" | cut -d: -f2)"
    bad=$(for c in core/"$floor"/*.c; do o="$BUILD/${c%.c}.o"; nm -u "$o" | awk -v o="${o#"$BUILD/"}" '{ print o, $NF }'; done |
          awk -v allowed=" $allowed " 'NR == FNR { floor[$1] = $2; def[$1] = $3; next }
               ($2 in floor) && index(allowed, " " floor[$2] " ") == 0 { print "  " $1 " uses " $2 " from " def[$2] }' "$defs" -)
    if [ -n "$bad" ]; then
        echo "not ok: core/$floor uses a floor above it"; echo "$bad"; failed=$((failed + 1))
    else
        passed=$((passed + 1))
    fi
done
echo "layers: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
