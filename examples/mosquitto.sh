#!/usr/bin/env bash
# The same journey with the Mosquitto command-line clients.
#
#   DEVICE='alice$home$pi' SECRET=ags_... BUYER=bob KEY=agk_... TOPIC=alice/home/temp examples/mosquitto.sh
#
# HOST/PORT default to localhost:1883; set CAFILE=agora-data/tls/cert.pem and
# PORT=8883 for TLS. The buyer's subscriber prints COUNT messages (default 3)
# while the device publishes one reading a second.
set -euo pipefail
: "${DEVICE:?owner\$hub\$device}" "${SECRET:?device secret}" "${BUYER:?buyer account}" "${KEY:?access key}" "${TOPIC:?product topic}"
HOST=${HOST:-localhost}
PORT=${PORT:-1883}
COUNT=${COUNT:-3}
tls=()
if [ -n "${CAFILE:-}" ]; then tls=(--cafile "$CAFILE"); fi

mosquitto_sub -h "$HOST" -p "$PORT" "${tls[@]}" -u "$BUYER" -P "$KEY" -t "$TOPIC" -v -C "$COUNT" -W 60 &
sub=$!
trap 'kill $sub 2>/dev/null || true' EXIT
for i in $(seq 1 60); do
  kill -0 "$sub" 2>/dev/null || break
  mosquitto_pub -h "$HOST" -p "$PORT" "${tls[@]}" -u "$DEVICE" -P "$SECRET" -q 1 -t "$TOPIC" \
    -m "{\"seq\": $i, \"celsius\": 21.$((RANDOM % 10))}"
  sleep 1
done
wait "$sub"
