#!/usr/bin/env bash
# Runs the same agora-bench scenarios against Mosquitto, Agora in plain mode
# (static auth, as Mosquitto is set up) and Agora in market mode (a device
# publishing a product, a buyer with a purchase subscribing), all started here
# on free ports, and writes the comparison (ratios to Mosquitto, machine,
# versions, settings) into docs/benchmarks.md between the "results" markers.
# Needs curl for the market set-up.
#
#   bench/compare.sh            # full run, ~12 minutes
#   bench/compare.sh --quick    # short windows, ~3 minutes
#   bench/compare.sh --help
#
# Needs: mosquitto + mosquitto_passwd (Debian package `mosquitto`), jq, cargo.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: bench/compare.sh [--quick] [--out FILE] [--no-build] [--keep] [--agora BIN] [--mosquitto-only]

Starts Mosquitto and Agora on free ports with equivalent settings, runs every
agora-bench scenario against each (alternating, same machine, same moment),
and writes a Markdown table of Agora/Mosquitto ratios into docs/benchmarks.md.

  --quick      2 s windows and smaller counts: about 2 minutes in all
  --out FILE   write the results into FILE instead of docs/benchmarks.md
  --no-build   use the existing target/release binaries
  --keep       keep the work directory (configs, logs, JSON results)
  --agora BIN  use this agora binary (not built here), e.g. to compare two builds
  --mosquitto-only
               skip Agora (to try the tool and the script alone)

Raw JSON of every run is also copied to target/bench-results/.
EOF
}

QUICK=0
BUILD=1
KEEP=0
MOSQ_ONLY=0
AGORA=""
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$ROOT/docs/benchmarks.md"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --no-build) BUILD=0 ;;
        --keep) KEEP=1 ;;
        --mosquitto-only) MOSQ_ONLY=1 ;;
        --out) OUT=$2; shift ;;
        --agora) AGORA=$(realpath "$2"); shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "compare.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

for tool in mosquitto mosquitto_passwd jq cargo; do
    if ! command -v "$tool" >/dev/null 2>&1 && [[ ! -x /usr/sbin/$tool ]]; then
        echo "compare.sh: '$tool' not found (apt-get install mosquitto jq)" >&2
        exit 1
    fi
done
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)

cd "$ROOT"
if [[ $BUILD == 1 ]]; then
    echo "== building (release)" >&2
    if [[ $MOSQ_ONLY == 1 || -n $AGORA ]]; then
        cargo build --release -p agora-bench >&2
    else
        cargo build --release -p agora -p agora-bench >&2
    fi
fi
AGORA=${AGORA:-$ROOT/target/release/agora}
BENCH="$ROOT/target/release/agora-bench"

# Many connections: both brokers inherit this limit, and so does the tool.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

WORK=$(mktemp -d -t agora-compare.XXXXXX)
MOSQ_PID=""
AGORA_PID=""
MARKET_PID=""
cleanup() {
    [[ -n $MOSQ_PID ]] && kill "$MOSQ_PID" 2>/dev/null || true
    [[ -n $AGORA_PID ]] && kill "$AGORA_PID" 2>/dev/null || true
    [[ -n $MARKET_PID ]] && kill "$MARKET_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    if [[ $KEEP == 1 ]]; then echo "work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() { # port pid name
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        if ! kill -0 "$2" 2>/dev/null; then echo "compare.sh: $3 exited; log:" >&2; cat "$WORK/$3.log" >&2; exit 1; fi
        sleep 0.1
    done
    echo "compare.sh: $3 did not listen on $1" >&2
    exit 1
}

# ---------------------------------------------------------------- settings
USER_NAME=bench
PASSWORD="bench-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
INFLIGHT=100        # per-session QoS 1/2 window, both brokers
QUEUED=1000         # per-session queue, both brokers (Mosquitto's default)
MPORT=$(free_port)
APORT=$(free_port)

# Mosquitto: anonymous clients and user `bench` both limited to bench/# by
# an ACL, so both brokers check every PUBLISH and SUBSCRIBE against a rule.
mosquitto_passwd -c -b "$WORK/mosquitto.passwd" "$USER_NAME" "$PASSWORD"
cat >"$WORK/mosquitto.acl" <<EOF
topic readwrite bench/#
user $USER_NAME
topic readwrite bench/#
EOF
cat >"$WORK/mosquitto.conf" <<EOF
listener $MPORT 127.0.0.1
# Started as root, Mosquitto would switch to user "mosquitto", who cannot read $WORK.
user $(id -un)
allow_anonymous true
password_file $WORK/mosquitto.passwd
acl_file $WORK/mosquitto.acl
# Agora sets TCP_NODELAY; without it Mosquitto's p99 at 20k msg/s is ~50x worse.
set_tcp_nodelay true
max_inflight_messages $INFLIGHT
max_queued_messages $QUEUED
max_connections -1
persistence false
log_dest file $WORK/mosquitto-broker.log
log_type error
log_type warning
EOF

HASH='<not used>'
if [[ $MOSQ_ONLY == 0 ]]; then
    HASH=$(printf '%s' "$PASSWORD" | "$AGORA" hash-password)
fi
cat >"$WORK/agora.toml" <<EOF
[server]
data_dir = "$WORK/agora-data"

[broker]
max_inflight = $INFLIGHT
max_queued_messages = $QUEUED
max_connections = 1000000

[auth]
mode = "static"
allow_anonymous = true
anonymous_acl = [{ pattern = "bench/#", access = "readwrite" }]

[[auth.users]]
username = "$USER_NAME"
password_hash = "$HASH"
acl = [{ pattern = "bench/#", access = "readwrite" }]

[log]
level = "warn"
EOF

echo "== starting mosquitto on $MPORT and agora on $APORT" >&2
"$MOSQUITTO" -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
MOSQ_PID=$!
wait_port "$MPORT" "$MOSQ_PID" mosquitto
if [[ $MOSQ_ONLY == 0 ]]; then
    "$AGORA" serve --mqtt "$APORT" --mqtts off --http off --config "$WORK/agora.toml" \
        >"$WORK/agora.log" 2>&1 &
    AGORA_PID=$!
    wait_port "$APORT" "$AGORA_PID" agora
fi

# Agora in market mode, the way a marketplace runs it: a seller's device
# publishes a product, a buyer with a live purchase subscribes with an access
# key, and every PUBLISH and every delivery is authorised against the
# entitlement index (the broker's hot path asks it per message).
MKPORT=$(free_port)
MKHTTP=$(free_port)
MKT_AUTH=()
if [[ $MOSQ_ONLY == 0 ]]; then
    cat >"$WORK/agora-market.toml" <<EOF
[server]
data_dir = "$WORK/agora-market-data"

[broker]
max_inflight = $INFLIGHT
max_queued_messages = $QUEUED
max_connections = 1000000

[log]
level = "warn"
EOF
    "$AGORA" serve --mqtt "$MKPORT" --mqtts off --http "$MKHTTP" --config "$WORK/agora-market.toml" \
        >"$WORK/agora-market.log" 2>&1 &
    MARKET_PID=$!
    wait_port "$MKHTTP" "$MARKET_PID" agora-market
    wait_port "$MKPORT" "$MARKET_PID" agora-market
    API="http://127.0.0.1:$MKHTTP/api/v1"
    api() { # method path token json -> response body; fails loudly
        local out args=(-sS -f -X "$1" "$API$2" -H 'Content-Type: application/json')
        [[ -n $3 ]] && args+=(-H "Authorization: Bearer $3")
        [[ -n $4 ]] && args+=(-d "$4")
        if ! out=$(curl "${args[@]}"); then
            echo "compare.sh: market set-up failed at $1 $2" >&2
            exit 1
        fi
        printf '%s' "$out"
    }
    MKT_PW="bench-market-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
    api POST /accounts "" "{\"name\": \"seller\", \"password\": \"$MKT_PW\"}" >/dev/null
    SELLER=$(api POST /tokens "" "{\"name\": \"bench\", \"account\": \"seller\", \"password\": \"$MKT_PW\"}" | jq -r .token)
    api POST /hubs "$SELLER" '{"name": "lab"}' >/dev/null
    DEV_SECRET=$(api POST /hubs/seller/lab/devices "$SELLER" '{"name": "dev"}' | jq -r .secret)
    api POST /products "$SELLER" '{"hub": "lab", "name": "feed", "title": "Bench feed"}' >/dev/null
    api POST /accounts "" "{\"name\": \"buyer\", \"password\": \"$MKT_PW\"}" >/dev/null
    BUYER=$(api POST /tokens "" "{\"name\": \"bench\", \"account\": \"buyer\", \"password\": \"$MKT_PW\"}" | jq -r .token)
    api POST /products/seller/lab/feed/purchases "$BUYER" "" >/dev/null
    BUYER_KEY=$(api POST /access-keys "$BUYER" '{"name": "bench", "products": ["seller/lab/feed"]}' | jq -r .key)
    MKT_AUTH=(-u 'seller$lab$dev' -P "$DEV_SECRET" --sub-username buyer --sub-password "$BUYER_KEY" --topic-prefix seller/lab/feed)
    echo "== agora (market mode) on $MKPORT: device seller\$lab\$dev publishes under seller/lab/feed, buyer subscribes" >&2
fi

# ---------------------------------------------------------------- scenarios
if [[ $QUICK == 1 ]]; then
    W="--duration 2s --warmup 1s --drain-idle 1s"
    IDLE_N=5000; STORM_T=3s; PAIRS=50; FANOUT=50; FANIN=50; REPEAT=1
else
    W="--duration 10s --warmup 2s"
    IDLE_N=10000; STORM_T=10s; PAIRS=100; FANOUT=100; FANIN=100; REPEAT=3
fi
AUTH=(-u "$USER_NAME" -P "$PASSWORD")

# name | agora-bench arguments (the password is added unless NOAUTH).
# idle goes first: its baseline needs brokers that have not yet grown and
# shrunk their heaps.
SCENARIOS=(
    # Anonymous: the per-connection cost, not the password hash's transient
    # memory (argon2id takes 19 MiB per check while it runs).
    "idle|idle --connections $IDLE_N NOAUTH"
    "fanin-q0|fan-in --publishers $FANIN -q 0 $W"
    "fanin-q1|fan-in --publishers $FANIN -q 1 $W"
    "fanin-q2|fan-in --publishers $FANIN -q 2 $W"
    "fanout-q0|fan-out --subscribers $FANOUT -q 0 $W"
    "fanout-q1|fan-out --subscribers $FANOUT -q 1 $W"
    "pairs-q1-v5|pairs --pairs $PAIRS -q 1 -V 5 $W"
    # Tail latency on two shared cores moves from run to run (docs/benchmarks.md):
    # these run REPEAT times, the brokers alternating, and each broker's run
    # with the median p99 is the one reported.
    "latency-q0|pairs --pairs $PAIRS -q 0 --rate 20000 $W REPEAT"
    "latency-q1|pairs --pairs $PAIRS -q 1 --rate 20000 $W REPEAT"
    "storm-auth|storm --connections 1000000 --concurrency 50 --duration $STORM_T"
    "storm-anon|storm --connections 1000000 --concurrency 50 --duration $STORM_T NOAUTH"
    "stall|stall --publishers 4 -q 0 $W"
    "stall-q1|stall --publishers 4 -q 1 --size 256 $W"
)

RESULTS="$WORK/results"
mkdir -p "$RESULTS"
run_one() { # broker-name port pid scenario-name args...
    local broker=$1 port=$2 pid=$3 name=$4
    shift 4
    local args=() auth=("${AUTH[@]}") a
    if [[ $broker == market ]]; then auth=("${MKT_AUTH[@]}"); fi
    for a in "$@"; do
        if [[ $a == NOAUTH ]]; then
            # Market mode admits no anonymous client: such scenarios are not run there.
            if [[ $broker == market ]]; then
                echo '{"failed": true, "error": "not run (no anonymous clients in market mode)"}' >"$RESULTS/$name.$broker.json"
                return 0
            fi
            auth=()
        elif [[ $a != REPEAT ]]; then args+=("$a"); fi
    done
    local out="$RESULTS/$name.$broker.json"
    if ! "$BENCH" "${args[@]}" -p "$port" "${auth[@]}" --broker-pid "$pid" --json >"$out" 2>"$RESULTS/$name.$broker.err"; then
        echo "   $broker: FAILED: $(tail -1 "$RESULTS/$name.$broker.err")" >&2
        jq -n --arg e "$(tail -1 "$RESULTS/$name.$broker.err")" '{failed: true, error: $e}' >"$out"
        return 0
    fi
    echo "   $broker: $(jq -r '.result | if .delivered_per_sec then "\(.delivered_per_sec|floor) msg/s, p99 \(.latency_us.p99|floor) µs, lost \(.sequence.lost)" elif .connects_per_sec then "\(.connects_per_sec|floor) connects/s" else "\(.bytes_per_connection|floor) B/conn (marginal \(.marginal_bytes_per_connection|floor))" end' "$out")" >&2
}

START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
run_both() { # scenario-name args...
    local name=$1
    shift
    # shellcheck disable=SC2086
    run_one mosquitto "$MPORT" "$MOSQ_PID" "$name" "$@"
    if [[ $MOSQ_ONLY == 0 ]]; then
        run_one agora "$APORT" "$AGORA_PID" "$name" "$@"
        run_one market "$MKPORT" "$MARKET_PID" "$name" "$@"
    else
        echo '{"failed": true, "error": "not run (--mosquitto-only)"}' >"$RESULTS/$name.agora.json"
        echo '{"failed": true, "error": "not run (--mosquitto-only)"}' >"$RESULTS/$name.market.json"
    fi
}
# Keeps, as NAME.BROKER.json, the repetition whose p99 is the median.
pick_median() { # scenario-name broker
    local files=("$RESULTS/$1"@*."$2".json) f best
    best=$(for f in "${files[@]}"; do
        printf '%s %s\n' "$(jq -r 'if .failed then 1e18 else .result.latency_us.p99 end' "$f")" "$f"
    done | sort -g | awk -v n="${#files[@]}" 'NR == int((n + 1) / 2) { print $2 }')
    cp "$best" "$RESULTS/$1.$2.json"
    jq -rn '[inputs | if .failed then "failed" else (.result.latency_us.p99 | floor | tostring) end] | join("/")' \
        "${files[@]}" >"$RESULTS/$1.$2.p99s"
}
for entry in "${SCENARIOS[@]}"; do
    name=${entry%%|*}
    args=${entry#*|}
    echo "== $(date +%T) $name: agora-bench ${args% REPEAT}" >&2
    if [[ $args == *REPEAT ]]; then
        for r in $(seq 1 "$REPEAT"); do
            # shellcheck disable=SC2086
            run_both "$name@$r" $args
        done
        pick_median "$name" mosquitto
        if [[ $MOSQ_ONLY == 0 ]]; then pick_median "$name" agora; pick_median "$name" market; fi
    else
        # shellcheck disable=SC2086
        run_both "$name" $args
    fi
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

mkdir -p "$ROOT/target/bench-results"
cp "$RESULTS"/*.json "$ROOT/target/bench-results/"
cp "$WORK/mosquitto.conf" "$WORK/agora.toml" "$ROOT/target/bench-results/"
sed -i "s/^password_hash = .*/password_hash = \"<argon2id hash>\"/" "$ROOT/target/bench-results/agora.toml"

# ---------------------------------------------------------------- report
j() { # scenario broker jq-expression
    local f="$RESULTS/$1.$2.json"
    jq -r "if .failed then (if (.error // \"\" | startswith(\"not run\")) then \"—\" else \"failed\" end) else ($3) end" "$f" 2>/dev/null || echo "n/a"
}
ratio() { # a b
    awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) { r = a / b; printf (r >= 0.1 ? "%.2f" : "%.2g"), r } else print "n/a" }'
}
fmt() { # number -> 1,234,567 (integers) / unchanged text
    awk -v v="$1" 'BEGIN { if (v ~ /^-?[0-9.]+$/) { s = sprintf("%.0f", v); n = ""; while (length(s) > 3) { n = "," substr(s, length(s) - 2) n; s = substr(s, 1, length(s) - 3) } print s n } else print v }'
}
verdict() { # ratio op target
    awk -v r="$1" -v op="$2" -v t="$3" 'BEGIN { if (r !~ /^[0-9.]+$/) print "not measured"; else if ((op == ">=" && r + 0 >= t + 0) || (op == "<=" && r + 0 <= t + 0)) print "met"; else print "**not met**" }'
}

THR='.result.delivered_per_sec'
P99='.result.latency_us.p99'
row() { # label scenario jq-metric unit op target
    local m a k r rk
    m=$(j "$2" mosquitto "$3")
    a=$(j "$2" agora "$3")
    k=$(j "$2" market "$3")
    r=$(ratio "$a" "$m")
    rk=$(ratio "$k" "$m")
    local vk
    if [[ $k == "—" ]]; then rk=""; vk="—"; else vk=$(verdict "$rk" "$5" "$6"); fi
    echo "| $1 | $(fmt "$m") | $(fmt "$a") | $r | $(fmt "$k") | $rk | $( [[ $5 == ">=" ]] && echo "≥" || echo "≤") $6× | $(verdict "$r" "$5" "$6") | $vk |"
}
p99s() { # scenario broker: the p99 of every repetition, when repeated
    local f="$RESULTS/$1.$2.p99s"
    if [[ $REPEAT -gt 1 && -f $f ]]; then echo "; p99 of the $REPEAT runs $(cat "$f") µs (median shown)"; fi
}
loss() { # scenario broker
    j "$1" "$2" '"\(.result.sequence.lost) lost / \(.result.sequence.expected)"'
}

MACHINE_CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
MACHINE_RAM=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
# `mosquitto -h` exits non-zero; pipefail must not end the script here.
MOSQ_VERSION=$({ "$MOSQUITTO" -h 2>&1 || true; } | head -1 | sed 's/^mosquitto version //')
AGORA_VERSION=$("$AGORA" --version 2>/dev/null | head -1 || echo "agora (not run)")
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
# (Not `| grep -q`: it exits early, git dies of SIGPIPE, and pipefail hides the match.)
CHANGES=$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null || true)
DIRTY=$([[ -n $CHANGES ]] && echo " plus uncommitted changes in the working tree" || true)
BUILT=$(date -u -r "$AGORA" +%Y-%m-%dT%H:%MZ 2>/dev/null || echo "?")

# The larger of the average and the marginal cost: neither flatters.
IDLE_B='[.result.bytes_per_connection, .result.marginal_bytes_per_connection] | max'
idle_m=$(j idle mosquitto "$IDLE_B")
idle_a=$(j idle agora "$IDLE_B")
stall_cell() { # scenario broker
    j "$1" "$2" '"\((.result.broker.rss_start_bytes/1048576*10|floor)/10) → \((.result.broker.rss_mid_bytes/1048576*10|floor)/10) → \((.result.broker.rss_end_bytes/1048576*10|floor)/10) MiB (peak \((.result.broker.rss_peak_bytes/1048576*10|floor)/10)); healthy subscriber got \(.result.delivered_per_sec|floor) msg/s"'
}
stall_bounded() { # scenario broker: bounded if the second half grew less than 16 MiB and the peak less than 256 MiB over the start
    j "$1" "$2" 'if ((.result.broker.rss_end_bytes - .result.broker.rss_mid_bytes) < 16777216 and (.result.broker.rss_peak_bytes - .result.broker.rss_start_bytes) < 268435456) then "bounded" else "**growing**" end'
}

TABLE="$WORK/table.md"
{
    echo "Run $START$( [[ $QUICK == 1 ]] && echo ' (`--quick`: 2 s windows, smaller counts; indicative only)')."
    echo
    echo "- Machine: $(nproc) CPUs ($MACHINE_CPU), $MACHINE_RAM RAM, Linux $(uname -r); load average $LOAD_BEFORE before, $LOAD_AFTER after (the machine is shared)."
    echo "- Versions: Mosquitto $MOSQ_VERSION; $AGORA_VERSION, release binary built $BUILT (HEAD $COMMIT$DIRTY at run time); agora-bench $("$BENCH" --version | awk '{print $2}'), one thread."
    echo "- Agora, market mode: the default \`agora serve\` (SQLite store, entitlement index), set up through the REST API: seller \`seller\`, hub \`lab\`, device \`seller\$lab\$dev\` (secret), free product \`seller/lab/feed\`; buyer \`buyer\` with a live purchase and an access key for it. Publishers log in as the device and publish under the product's topic, subscribers as the buyer; every PUBLISH and every delivery is authorised against the entitlement index and metered. Scenarios with anonymous clients (idle, anonymous storm) do not apply."
    echo "- Settings, both brokers: loopback, $INFLIGHT in-flight QoS 1/2 messages and $QUEUED queued messages per session, one ACL rule (\`bench/#\` readwrite) checked for anonymous and authenticated clients, password auth for user \`$USER_NAME\` (Mosquitto: sha512-pbkdf2 from \`mosquitto_passwd\`; Agora: argon2id from \`agora hash-password\`), TCP_NODELAY, no persistence. Message scenarios connect with the password; 64-byte payloads."
    echo "- Windows: $( [[ $QUICK == 1 ]] && echo '2 s measured after 1 s warm-up' || echo '10 s measured after 2 s warm-up'); throughput = messages delivered to subscribers per second in the window; latency = publish-to-deliver, measured on messages sent in the window$( [[ $REPEAT -gt 1 ]] && echo "; the fixed-rate latency scenarios run $REPEAT times, brokers alternating, and each broker's median-p99 run is reported")."
    echo
    echo "| Scenario | Mosquitto | Agora | Agora/Mosquitto | Agora, market mode | market/Mosquitto | Target | plain | market |"
    echo "|---|---:|---:|---:|---:|---:|---:|---|---|"
    row "fan-in, QoS 0, $FANIN → 1, max rate (msg/s)" fanin-q0 "$THR" msg/s ">=" 2
    row "fan-out, QoS 0, 1 → $FANOUT, max rate (msg/s)" fanout-q0 "$THR" msg/s ">=" 1.5
    row "fan-in, QoS 1, $FANIN → 1, max rate (msg/s)" fanin-q1 "$THR" msg/s ">=" 1.5
    row "fan-out, QoS 1, 1 → $FANOUT, max rate (msg/s)" fanout-q1 "$THR" msg/s ">=" 1.5
    row "fan-in, QoS 2, $FANIN → 1, max rate (msg/s)" fanin-q2 "$THR" msg/s ">=" 1
    row "pairs, QoS 1, MQTT 5, $PAIRS pairs, max rate (msg/s)" pairs-q1-v5 "$THR" msg/s ">=" 1.5
    row "p99 latency, QoS 0, $PAIRS pairs at 20,000 msg/s (µs)" latency-q0 "$P99" µs "<=" 1
    row "p99 latency, QoS 1, $PAIRS pairs at 20,000 msg/s (µs)" latency-q1 "$P99" µs "<=" 1
    row "connection storm with password auth (connects/s)" storm-auth '.result.connects_per_sec' /s ">=" 1
    row "connection storm, anonymous (connects/s)" storm-anon '.result.connects_per_sec' /s ">=" 1
    echo "| broker memory per idle connection, $IDLE_N open (bytes) | $(fmt "$idle_m") | $(fmt "$idle_a") | $(ratio "$idle_a" "$idle_m") | — | | ≤ 2,048 B | $(awk -v a="$idle_a" 'BEGIN { if (a !~ /^-?[0-9.]+$/) print "not measured"; else if (a + 0 <= 2048) print "met"; else print "**not met**" }') | |"
    for s in stall stall-q1; do
        q=$( [[ $s == stall ]] && echo "QoS 0, 64 B" || echo "QoS 1, 256 B")
        echo "| memory under a never-reading subscriber, $q | $(stall_bounded $s mosquitto) | $(stall_bounded $s agora) | | $(stall_bounded $s market) | | bounded | $( [[ $(stall_bounded $s agora) == bounded ]] && echo met || echo '**not met**') | $( [[ $(stall_bounded $s market) == bounded ]] && echo met || echo '**not met**') |"
    done
    echo
    echo "Details:"
    echo
    echo "| Scenario | Mosquitto | Agora | Agora, market mode |"
    echo "|---|---|---|---|"
    for s in fanin-q0 fanout-q0 fanin-q1 fanout-q1 fanin-q2 pairs-q1-v5 latency-q0 latency-q1; do
        detail='"p50/p99/p99.9 \(.result.latency_us.p50|floor)/\(.result.latency_us.p99|floor)/\(.result.latency_us.p999|floor) µs; \(.result.sequence.lost) lost, \(.result.sequence.duplicates) dup, \(.result.sequence.reordered) reordered of \(.result.sequence.expected)\(if .result.send_lateness_us then "; sent late p99 \(.result.send_lateness_us.p99|floor) µs" else "" end); broker CPU \(.result.broker.cpu_percent|floor) %, RSS \(.result.broker.rss_peak_bytes/1048576|floor) MiB"'
        echo "| $s | $(j "$s" mosquitto "$detail")$(p99s "$s" mosquitto) | $(j "$s" agora "$detail")$(p99s "$s" agora) | $(j "$s" market "$detail")$(p99s "$s" market) |"
    done
    for s in storm-auth storm-anon; do
        detail='"\(.result.accepted) accepted, \(.result.refused) refused, \(.result.failed) failed; CONNACK p50/p99 \(.result.connack_latency_us.p50|floor)/\(.result.connack_latency_us.p99|floor) µs; broker CPU \(.result.broker.cpu_percent|floor) %"'
        echo "| $s | $(j "$s" mosquitto "$detail") | $(j "$s" agora "$detail") | $(j "$s" market "$detail") |"
    done
    detail='"\(.result.open) open, RSS \(.result.rss_before_bytes/1048576*10|floor/10) → \(.result.rss_half_bytes/1048576*10|floor/10) → \(.result.rss_after_bytes/1048576*10|floor/10) MiB; average \(.result.bytes_per_connection|floor) B, marginal \(.result.marginal_bytes_per_connection|floor) B per connection"'
    echo "| idle | $(j idle mosquitto "$detail") | $(j idle agora "$detail") | — |"
    echo "| stall, QoS 0 (RSS start → mid → end) | $(stall_cell stall mosquitto) | $(stall_cell stall agora) | $(stall_cell stall market) |"
    echo "| stall-q1, QoS 1 (RSS start → mid → end) | $(stall_cell stall-q1 mosquitto) | $(stall_cell stall-q1 agora) | $(stall_cell stall-q1 market) |"
} >"$TABLE"

if [[ ! -f $OUT ]]; then
    printf '# Benchmarks\n\n<!-- results:begin -->\n<!-- results:end -->\n' >"$OUT"
fi
if ! grep -q '<!-- results:begin -->' "$OUT"; then
    printf '\n<!-- results:begin -->\n<!-- results:end -->\n' >>"$OUT"
fi
awk -v table="$TABLE" '
    /<!-- results:begin -->/ { print; while ((getline line < table) > 0) print line; skip = 1; next }
    /<!-- results:end -->/ { skip = 0 }
    !skip { print }
' "$OUT" >"$OUT.tmp" && mv "$OUT.tmp" "$OUT"
echo "== results written to $OUT (raw JSON in target/bench-results/)" >&2
cat "$TABLE"
