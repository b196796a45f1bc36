#!/bin/sh
# Tests of the bin/tau executable: command-line behaviour through pipes, and the interactive
# REPL through a real pseudo-terminal driven by tmux (line editing, completion, Ctrl-C,
# Ctrl-D, history). Run from the repository root; TAU selects the binary (default bin/tau).
# Every wait is bounded, so a broken binary fails the test instead of hanging it.

TAU=${TAU:-bin/tau}
case $TAU in
/*) ;;
*) TAU="$PWD/$TAU" ;;
esac

# Polls are 0.1 s apart; a busy machine can stall a process for seconds, so the limit is
# generous (a passing case goes on as soon as its output appears); it scales with the build's
# slowness (the asan target sets CK_TIMEOUT_MULTIPLIER).
SLOW=${CK_TIMEOUT_MULTIPLIER:-1}
TRIES=${REPL_WAIT_TRIES:-$((300 * SLOW))}

passed=0
failed=0
skipped=0

ok() {
    passed=$((passed + 1))
    echo "ok - $1"
}

not_ok() {
    failed=$((failed + 1))
    echo "not ok - $1"
    if [ -n "$2" ]; then
        printf '%s\n' "$2" | sed 's/^/#   /'
    fi
}

skip() {
    skipped=$((skipped + 1))
    echo "ok - $1 # skip $2"
}

finish() {
    if [ "$skipped" -gt 0 ]; then
        echo "$passed passed, $failed failed, $skipped skipped"
    else
        echo "$passed passed, $failed failed"
    fi
    [ "$failed" -eq 0 ]
    exit $?
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tau-repl.XXXXXX") || exit 1
# The tmux server gets its own socket inside TMP: no other server is touched, and the socket
# file (which kill-server leaves behind) goes away with TMP.
SOCK="$TMP/tmux.sock"
BGPID=""

cleanup() {
    if command -v tmux >/dev/null 2>&1; then
        [ -S "$SOCK" ] && tmux -S "$SOCK" kill-server >/dev/null 2>&1
    fi
    if [ -n "$BGPID" ]; then
        kill -9 "$BGPID" >/dev/null 2>&1
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM HUP

# Bounded run of a non-interactive command.
run() {
    if command -v timeout >/dev/null 2>&1; then
        timeout $((40 * SLOW)) "$@"
    else
        "$@"
    fi
}

if [ ! -x "$TAU" ]; then
    not_ok "binary $TAU exists and is executable"
    finish
fi

# --------------------------------------------------------------------------------------
# Command line (no terminal)

out=$(run "$TAU" -e 'print(1 + 1)' </dev/null 2>&1)
if [ "$out" = "2" ]; then ok "-e runs a statement"; else not_ok "-e runs a statement" "$out"; fi

cat >"$TMP/args.lua" <<'EOF'
print(arg[0] == SCRIPT, arg[1], arg[2], #arg, select("#", ...), ...)
print(arg[-1] ~= nil)
EOF
out=$(run "$TAU" -e "SCRIPT='$TMP/args.lua'" "$TMP/args.lua" first second </dev/null 2>&1)
expected=$(printf 'true\tfirst\tsecond\t2\t2\tfirst\tsecond\ntrue')
if [ "$out" = "$expected" ]; then
    ok "script receives arg table and ..."
else
    not_ok "script receives arg table and ..." "$out"
fi

out=$(echo 'print("from stdin", ...)' | run "$TAU" - x y 2>&1)
expected=$(printf 'from stdin\tx\ty')
if [ "$out" = "$expected" ]; then ok "- runs stdin"; else not_ok "- runs stdin" "$out"; fi

out=$(echo 'print(6 * 7)' | run "$TAU" 2>&1)
if [ "$out" = "42" ]; then
    ok "piped stdin without arguments runs as a script"
else
    not_ok "piped stdin without arguments runs as a script" "$out"
fi

version=$(run "$TAU" -e 'io.write(tau._VERSION)' </dev/null 2>&1)
out=$(run "$TAU" -v </dev/null 2>&1)
if [ -n "$version" ] && [ "${out#"tau $version -- Lua 5.4"}" != "$out" ]; then
    ok "-v prints the version tau._VERSION holds"
else
    not_ok "-v prints the version tau._VERSION holds" "$out (tau._VERSION is '$version')"
fi

run "$TAU" -e 'local function inner() error("boom") end inner()' </dev/null \
    >"$TMP/err.out" 2>"$TMP/err.err"
status=$?
err=$(cat "$TMP/err.err")
if [ "$status" -eq 1 ] && grep -qF "$TAU: (command line):1: boom" "$TMP/err.err" &&
    grep -qF "stack traceback:" "$TMP/err.err" && grep -qF "inner" "$TMP/err.err" &&
    [ ! -s "$TMP/err.out" ]; then
    ok "error exits with 1 and a traceback on stderr"
else
    not_ok "error exits with 1 and a traceback on stderr" "status $status: $err"
fi

printf 'x = = 1\n' >"$TMP/syntax.lua"
run "$TAU" "$TMP/syntax.lua" </dev/null >/dev/null 2>"$TMP/syntax.err"
status=$?
if [ "$status" -eq 1 ] && grep -qF "syntax.lua:1:" "$TMP/syntax.err"; then
    ok "syntax error in a script exits with 1"
else
    not_ok "syntax error in a script exits with 1" "status $status: $(cat "$TMP/syntax.err")"
fi

run "$TAU" -e 'os.exit(7)' </dev/null >/dev/null 2>&1
status=$?
if [ "$status" -eq 7 ]; then ok "os.exit status is kept"; else not_ok "os.exit status is kept" "status $status"; fi

out=$(run "$TAU" -e 'print(type(tau), require("tau") == tau)' </dev/null 2>&1)
expected=$(printf 'table\ttrue')
if [ "$out" = "$expected" ]; then
    ok "tau is preloaded as a global"
else
    not_ok "tau is preloaded as a global" "$out"
fi

root=$(cd "$(dirname "$TAU")/.." && pwd -P)
out=$(run "$TAU" -e 'print((package.path:match("^[^;]*")))' </dev/null 2>&1)
if [ "$out" = "$root/scripts/?.lua" ]; then
    ok "package.path starts with the scripts folder"
else
    not_ok "package.path starts with the scripts folder" "$out (wanted $root/scripts/?.lua)"
fi

out=$(run "$TAU" -l string -e 'io.write(string.rep("ab", 2), "\n")' </dev/null 2>&1)
if [ "$out" = "abab" ]; then ok "-l loads a library"; else not_ok "-l loads a library" "$out"; fi

printf 'print("after --", ...)\n' >"$TMP/dashdash.lua"
out=$(run "$TAU" -- "$TMP/dashdash.lua" -v </dev/null 2>&1)
expected=$(printf 'after --\t-v')
if [ "$out" = "$expected" ]; then ok "-- ends the options"; else not_ok "-- ends the options" "$out"; fi

run "$TAU" -x </dev/null >/dev/null 2>"$TMP/usage.err"
status=$?
if [ "$status" -eq 1 ] && grep -qF "usage:" "$TMP/usage.err"; then
    ok "unknown option prints usage and fails"
else
    not_ok "unknown option prints usage and fails" "status $status"
fi

out=$(printf 'function f(a)\n  return a + 1\nend\nf(41)\nerror("oops")\nprint("still here")\n' |
    run "$TAU" -i 2>&1)
if printf '%s\n' "$out" | grep -qx 'tau> \.\.\.> \.\.\.> tau> 42' &&
    printf '%s\n' "$out" | grep -qF 'stdin:1: oops' &&
    printf '%s\n' "$out" | grep -qF 'still here'; then
    ok "-i with piped input: multi-line chunks, auto-print, errors"
else
    not_ok "-i with piped input: multi-line chunks, auto-print, errors" "$out"
fi

out=$(printf 'tau.zeros(3, 4):size()\n{0.5, -2}\n{1, "a"}\nsetmetatable({1}, {})\n' | run "$TAU" -i 2>&1)
if printf '%s\n' "$out" | grep -qx 'tau> {3, 4}' && printf '%s\n' "$out" | grep -qx 'tau> {0.5, -2}' &&
    [ "$(printf '%s\n' "$out" | grep -c '^tau> table: ')" -eq 2 ]; then
    ok "an array of numbers prints as {3, 4}, other tables as print shows them"
else
    not_ok "an array of numbers prints as {3, 4}, other tables as print shows them" "$out"
fi

# Ctrl-C in a script raises a Lua error that pcall can catch; the handler is armed again, so
# a second one is caught too. Each loop announces itself from inside its pcall.
cat >"$TMP/sigint.lua" <<EOF
io.stdout:setvbuf("no")
local function spin(name)
    local f = io.open("$TMP/" .. name, "w") f:close()
    while true do end
end
local ok1, e1 = pcall(spin, "ready1")
print("caught", e1)
local ok2, e2 = pcall(spin, "ready2")
print("caught again", e2)
EOF
"$TAU" "$TMP/sigint.lua" >"$TMP/sigint.out" 2>&1 </dev/null &
BGPID=$!
for n in 1 2; do
    i=0
    while [ ! -e "$TMP/ready$n" ] && [ $i -lt "$TRIES" ]; do sleep 0.1; i=$((i + 1)); done
    sleep 0.1
    kill -INT "$BGPID" 2>/dev/null
done
i=0
while kill -0 "$BGPID" 2>/dev/null && [ $i -lt "$TRIES" ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 "$BGPID" 2>/dev/null; then
    kill -9 "$BGPID" 2>/dev/null
    wait "$BGPID" 2>/dev/null
    status=killed
else
    wait "$BGPID"
    status=$?
fi
BGPID=""
out=$(cat "$TMP/sigint.out")
if [ "$status" = 0 ] && printf '%s\n' "$out" | grep -qF "caught	interrupted!" &&
    printf '%s\n' "$out" | grep -qF "caught again	interrupted!"; then
    ok "SIGINT in a script is a catchable error, twice"
else
    not_ok "SIGINT in a script is a catchable error, twice" "status $status: $out"
fi

# --------------------------------------------------------------------------------------
# Interactive REPL through a pseudo-terminal

PTY_CASES=15
if ! command -v tmux >/dev/null 2>&1; then
    echo "skipped: tmux not installed"
    skipped=$((skipped + PTY_CASES))
    finish
fi
unset TMUX

mkdir -p "$TMP/home"
HIST="$TMP/history"
cat >"$TMP/tmux.conf" <<'EOF'
set -g remain-on-exit on
set -g default-terminal screen
set -g history-limit 5000
EOF

tm() { tmux -S "$SOCK" -f "$TMP/tmux.conf" "$@"; }

# start NAME ARGS...: a REPL in its own pane, with a private HOME and history file.
start() {
    name=$1
    shift
    cmd="exec env HOME='$TMP/home' EDITRC=/dev/null TAU_HISTORY='$HIST' '$TAU'"
    for a in "$@"; do cmd="$cmd '$a'"; done
    tm new-session -d -s "$name" -x 200 -y 50 "$cmd"
}

screen() { tm capture-pane -p -J -S -1000 -t "$1" 2>/dev/null; }

# type NAME TEXT: literal keys (send-keys would read words like "end" as key names).
type_text() { tm send-keys -t "$1" -l "$2"; }
key() {
    name=$1
    shift
    tm send-keys -t "$name" "$@"
}
# submit NAME TEXT: types TEXT and Enter. enter NAME TEXT does so once the line editor waits
# with an empty line, so that each line is echoed by the editor and the screen stays readable.
submit() {
    type_text "$1" "$2"
    key "$1" Enter
}
enter() {
    wait_prompt "$1"
    submit "$1" "$2"
}

# wait_line NAME REGEX [N]: until at least N whole lines of the screen match.
wait_line() {
    i=0
    while [ $i -lt "$TRIES" ]; do
        c=$(screen "$1" | grep -cx -- "$2")
        [ "${c:-0}" -ge "${3:-1}" ] && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# wait_prompt NAME: until the last non-empty line is an empty prompt, i.e. the line editor
# is waiting for input (keys typed earlier are echoed by the terminal and garble the screen).
wait_prompt() {
    i=0
    while [ $i -lt "$TRIES" ]; do
        case $(screen "$1" | grep -v '^$' | tail -n 1) in
        'tau>' | 'tau> ' | '...>' | '...> ') return 0 ;;
        esac
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# wait_text NAME STRING: until the screen contains STRING.
wait_text() {
    i=0
    while [ $i -lt "$TRIES" ]; do
        screen "$1" | grep -qF -- "$2" && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

pane_state() { tm display-message -p -t "$1" '#{pane_dead} #{pane_dead_status}#{?pane_dead_signal, signal #{pane_dead_signal},}' 2>/dev/null; }

# Waits for the pane's process to exit and for tmux to know its status. tmux 3.3 now and then
# misses the SIGCHLD of a process that closed the terminal some time before it was reaped
# (here: a multithreaded exit), leaving it a zombie; another SIGCHLD makes tmux look again.
wait_dead() {
    i=0
    while [ $i -lt "$TRIES" ]; do
        case $(pane_state "$1") in
        "1 "?*) return 0 ;;
        1*) [ $((i % 10)) -eq 9 ] && kill -CHLD "$(tm display-message -p '#{pid}')" 2>/dev/null ;;
        esac
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# check SESSION COMMAND...: one case, named by $case_name, passes if COMMAND succeeds.
check() {
    session=$1
    shift
    if "$@"; then
        ok "$case_name"
    else
        not_ok "$case_name" "$(screen "$session" | grep -v '^$' | tail -15)"
    fi
}

start s1
if ! wait_line s1 'tau> *' 1; then
    not_ok "REPL shows the tau> prompt" "$(screen s1)"
    failed=$((failed + PTY_CASES - 1))
    finish
fi
ok "REPL shows the tau> prompt"

case_name="expression result is printed"
enter s1 '20 + 22'
check s1 wait_line s1 '42'

case_name="multi-line function definition, then a call"
enter s1 'function twice(a)'
enter s1 '  return a * 2'
enter s1 'end'
enter s1 'twice(21.25)'
multi_line_ok() {
    wait_line s1 '42.5' && screen s1 | grep -qx '\.\.\.>   return a \* 2' &&
        screen s1 | grep -qx '\.\.\.> end'
}
check s1 multi_line_ok

case_name="error shows a traceback and the REPL goes on"
enter s1 'error("bad" .. "thing")'
enter s1 'print("alive" .. 1)'
error_ok() {
    wait_line s1 'alive1' && screen s1 | grep -qx 'stdin:1: badthing' &&
        screen s1 | grep -qx 'stack traceback:'
}
check s1 error_ok

case_name="tab completes a field of a global table"
wait_prompt s1
type_text s1 'string.for'
key s1 Tab
sleep 0.3
submit s1 '("%d!", 7)'
check s1 wait_line s1 '7!'

case_name="tab completes a method through the metatable's __index"
enter s1 's = "abc"'
wait_prompt s1
type_text s1 's:up'
key s1 Tab
sleep 0.3
submit s1 '()'
check s1 wait_line s1 'ABC'

# The loops announce themselves, so that Ctrl-C is known to land while they run.
case_name="Ctrl-C stops an infinite loop and the prompt works again"
enter s1 'print("spin" .. "ning") while true do end'
wait_line s1 'spinning'
sleep 0.2
key s1 C-c
loop_interrupt_ok() {
    wait_text s1 'interrupted!' && enter s1 'print("after" .. "interrupt")' &&
        wait_line s1 'afterinterrupt'
}
check s1 loop_interrupt_ok

case_name="Ctrl-C at the prompt discards the line and does not exit"
wait_prompt s1
type_text s1 'this line is junk'
sleep 0.2
key s1 C-c
sleep 0.2
enter s1 'print("still" .. "running")'
prompt_interrupt_ok() {
    wait_line s1 'stillrunning' && ! screen s1 | grep -qF "near 'line'" &&
        [ "$(pane_state s1)" = "0 " ]
}
check s1 prompt_interrupt_ok

case_name="Ctrl-C on a continuation line drops the unfinished chunk"
n=$(screen s1 | grep -c '^\.\.\.>')
enter s1 'for i = 1, 3 do'
wait_line s1 '\.\.\.>.*' $((n + 1))
key s1 C-c
sleep 0.2
enter s1 'print("fresh" .. "start")'
check s1 wait_line s1 'freshstart'

enter s1 'print("hist" .. "ory")'
wait_line s1 'history'
case_name="Ctrl-D exits with status 0"
key s1 C-d
if wait_dead s1 && [ "$(pane_state s1)" = "1 0" ]; then
    ok "$case_name"
else
    not_ok "$case_name" "$(pane_state s1) $(screen s1 | grep -v '^$' | tail -4)"
fi

case_name="history is saved and recalled in a new session"
start s2
if wait_line s2 'tau> *' 1 && grep -qF 'twice' "$HIST" 2>/dev/null; then
    key s2 Up
    sleep 0.3
    key s2 Enter
    if wait_line s2 'history'; then
        ok "$case_name"
    else
        not_ok "$case_name" "$(screen s2)"
    fi
else
    not_ok "$case_name" "$(cat "$HIST" 2>/dev/null)"
fi
key s2 C-d

# -i runs the script first, then stays interactive with its globals.
printf 'from_script = "set by" .. " script"\n' >"$TMP/init.lua"
case_name="-i script then REPL"
start s3 -i "$TMP/init.lua"
if wait_line s3 'tau> *' 1; then
    enter s3 'from_script'
    if wait_line s3 'set by script'; then ok "$case_name"; else not_ok "$case_name" "$(screen s3)"; fi
else
    not_ok "$case_name" "$(screen s3)"
fi
key s3 C-d

# With the real library: completion of its functions and tensor methods, and Ctrl-C
# through its kernels. Skipped when the binary's tau lacks them.
has() { run "$TAU" -e "os.exit(($1) and 0 or 1)" </dev/null >/dev/null 2>&1; }
start s4
wait_line s4 'tau> *' 1
case_name="tab completes tau functions and tensor methods"
if has 'type(tau.manual_seed) == "function" and type(tau.zeros) == "function" and select(2, pcall(function() return tau.zeros(2).matmul end)) ~= nil'; then
    wait_prompt s4
    type_text s4 'tau.manual_se'
    key s4 Tab
    sleep 0.3
    submit s4 '(1)'
    enter s4 'x = tau.zeros(2, 2)'
    wait_prompt s4
    type_text s4 'x:matm'
    key s4 Tab
    sleep 0.3
    submit s4 '(x)'
    if wait_line s4 'tau> tau\.manual_seed(1)' && wait_line s4 'tau> x:matmul(x)' &&
        ! screen s4 | grep -qF 'stdin:1:'; then
        ok "$case_name"
    else
        not_ok "$case_name" "$(screen s4 | grep -v '^$' | tail -10)"
    fi
else
    skip "$case_name" "tau.manual_seed, tau.zeros or Tensor:matmul missing"
fi

# tau.util loads on first access; completion offers it before that and loads nothing.
case_name="tab completes a module of tau that is not loaded yet"
if has 'package.loaded["tau.util"] == nil and tau.util ~= nil'; then
    wait_prompt s4
    type_text s4 '(package.loaded["tau.util"] and "loaded" or "fresh") .. "-" .. type(tau.ut'
    key s4 Tab
    sleep 0.3
    submit s4 ')'
    if wait_line s4 'fresh-table'; then
        ok "$case_name"
    else
        not_ok "$case_name" "$(screen s4 | grep -v '^$' | tail -10)"
    fi
else
    skip "$case_name" "tau.util missing or loaded at start"
fi

case_name="Ctrl-C stops a loop of tau kernels"
if has 'type(tau.randn) == "function" and pcall(function() return tau.randn(2, 2):matmul(tau.randn(2, 2)) * 0.5 end)'; then
    enter s4 'a = tau.randn(1000, 1000)'
    enter s4 'print("kernels" .. "running") while true do a = a:matmul(a) * 0.001 end'
    wait_line s4 'kernelsrunning'
    sleep 0.5
    key s4 C-c
    if wait_text s4 'interrupted' && enter s4 'print("kernels" .. "stopped")' &&
        wait_line s4 'kernelsstopped' && [ "$(pane_state s4)" = "0 " ]; then
        ok "$case_name"
    else
        not_ok "$case_name" "$(screen s4 | grep -v '^$' | tail -10)"
    fi
else
    skip "$case_name" "tau.randn or Tensor:matmul missing"
fi
key s4 C-d

finish
