#!/usr/bin/env python3
"""A buyer receiving a purchased product with an access key (paho-mqtt).

    python3 examples/buyer_subscribe.py --user bob --key "$ACCESS_KEY" \
        --topic alice/home/temp [--count 5] [--cafile agora-data/tls/cert.pem]

The MQTT user name is the buyer's account name; the password is an access
key created in the dashboard, the API (POST /api/v1/access-keys) or with
`agora admin create-access-key`. Subscribe to the product topic or inside it
(alice/home/temp/#); wider filters are refused.
"""
import argparse
import ssl
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="localhost")
    p.add_argument("--port", type=int)
    p.add_argument("--cafile")
    p.add_argument("--user", required=True)
    p.add_argument("--key", required=True, help="an access key (agk_...)")
    p.add_argument("--topic", required=True)
    p.add_argument("--count", type=int, default=0, help="exit after this many messages (0 = never)")
    p.add_argument("--v311", action="store_true", help="speak MQTT 3.1.1 instead of 5")
    a = p.parse_args()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311 if a.v311 else mqtt.MQTTv5)
    client.username_pw_set(a.user, a.key)
    if a.cafile:
        client.tls_set(ca_certs=a.cafile, cert_reqs=ssl.CERT_REQUIRED)
    done = threading.Event()
    state = {"n": 0, "status": 0}

    def on_connect(c, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            print(f"refused: {reason_code}", file=sys.stderr)
            state["status"] = 2
            done.set()
        else:
            c.subscribe(a.topic, qos=1)

    def on_subscribe(c, userdata, mid, reason_codes, properties):
        if all(rc.is_failure for rc in reason_codes):
            print(f"subscription refused: {reason_codes[0]} (is the purchase active?)", file=sys.stderr)
            state["status"] = 3
            done.set()
        else:
            print(f"subscribed to {a.topic}", flush=True)

    def on_message(c, userdata, msg):
        print(f"{msg.topic} {msg.payload.decode('utf-8', 'replace')}", flush=True)
        state["n"] += 1
        if a.count and state["n"] >= a.count:
            done.set()

    def on_disconnect(c, userdata, flags, reason_code, properties):
        print(f"disconnected: {reason_code}", file=sys.stderr)
        if not done.is_set():
            state["status"] = 4
            done.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.on_disconnect = on_disconnect
    client.connect(a.host, a.port or (8883 if a.cafile else 1883), keepalive=30)
    client.loop_start()
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    client.disconnect()
    client.loop_stop()
    return state["status"]


if __name__ == "__main__":
    sys.exit(main())
