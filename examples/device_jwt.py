#!/usr/bin/env python3
"""A key-based device: sign an RS256 JWT with PyJWT (iss, iat, exp, as in I3's
documentation) and publish with it as the MQTT password.

    agora keygen --out device.pem            # register the printed public key with the device
    python3 examples/device_jwt.py --user 'alice$home$meter' --key device.pem \
        --topic alice/home/power [--ttl 60] [--print-token]

Never send the private key itself as the password: Agora refuses it.
"""
import argparse
import json
import ssl
import sys
import time

import jwt  # PyJWT
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def sign(key_file: str, iss: str, ttl: int) -> str:
    with open(key_file, "rb") as f:
        private_key = f.read()
    now = int(time.time())
    claims = {"iss": iss, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, private_key, algorithm="RS256")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="localhost")
    p.add_argument("--port", type=int)
    p.add_argument("--cafile")
    p.add_argument("--user", required=True, help="owner$hub$device")
    p.add_argument("--key", required=True, help="the device's private key (PEM)")
    p.add_argument("--iss", help="the iss claim (default: the user name)")
    p.add_argument("--ttl", type=int, default=60, help="token lifetime in seconds")
    p.add_argument("--topic", required=True)
    p.add_argument("--message", help="one message to send (default: a JSON reading)")
    p.add_argument("--print-token", action="store_true", help="print the token and exit")
    a = p.parse_args()

    token = sign(a.key, a.iss or a.user, a.ttl)
    if a.print_token:
        print(token)
        return 0
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(a.user, token)
    if a.cafile:
        client.tls_set(ca_certs=a.cafile, cert_reqs=ssl.CERT_REQUIRED)
    result = {}

    def on_connect(c, userdata, flags, reason_code, properties):
        result["rc"] = reason_code

    client.on_connect = on_connect
    client.connect(a.host, a.port or (8883 if a.cafile else 1883), keepalive=30)
    client.loop_start()
    deadline = time.time() + 10
    while "rc" not in result and time.time() < deadline:
        time.sleep(0.05)
    if "rc" not in result or result["rc"].is_failure:
        print(f"refused: {result.get('rc', 'no answer')}", file=sys.stderr)
        return 2
    payload = a.message or json.dumps({"ts": time.time(), "watts": 412})
    info = client.publish(a.topic, payload, qos=1)
    info.wait_for_publish(timeout=10)
    print(f"published {payload}", flush=True)
    client.disconnect()
    client.loop_stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
