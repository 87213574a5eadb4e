#!/usr/bin/env python3
"""A seller's device publishing readings with its device secret (paho-mqtt).

    python3 examples/device_secret.py --user 'alice$home$pi' --secret "$SECRET" \
        --topic alice/home/temp [--host localhost --port 1883] [--cafile agora-data/tls/cert.pem]

The MQTT user name is the device's full name (owner$hub$device) and the
password is the secret Agora showed once when the device was registered.
It publishes one JSON reading per --interval seconds (--count of them, 0 = forever).
"""
import argparse
import json
import random
import ssl
import sys
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="localhost")
    p.add_argument("--port", type=int)
    p.add_argument("--cafile", help="trust this CA (for Agora's self-signed certificate); enables TLS")
    p.add_argument("--user", required=True, help="owner$hub$device")
    p.add_argument("--secret", required=True, help="the device secret (ags_...)")
    p.add_argument("--topic", required=True, help="the product topic, e.g. alice/home/temp")
    p.add_argument("--interval", type=float, default=1.0)
    p.add_argument("--count", type=int, default=0)
    a = p.parse_args()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(a.user, a.secret)
    if a.cafile:
        client.tls_set(ca_certs=a.cafile, cert_reqs=ssl.CERT_REQUIRED)
    port = a.port or (8883 if a.cafile else 1883)
    connected = {}

    def on_connect(c, userdata, flags, reason_code, properties):
        connected["rc"] = reason_code
        print(f"connected: {reason_code}", flush=True)

    client.on_connect = on_connect
    client.connect(a.host, port, keepalive=30)
    client.loop_start()
    deadline = time.time() + 10
    while "rc" not in connected and time.time() < deadline:
        time.sleep(0.05)
    if "rc" not in connected or connected["rc"].is_failure:
        print(f"refused: {connected.get('rc', 'no answer')}", file=sys.stderr)
        return 2
    sent = 0
    temp = 21.0
    while a.count == 0 or sent < a.count:
        temp += random.uniform(-0.2, 0.2)
        reading = {"seq": sent, "ts": time.time(), "celsius": round(temp, 2)}
        info = client.publish(a.topic, json.dumps(reading), qos=1)
        info.wait_for_publish(timeout=10)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            print(f"publish failed: {info.rc}", file=sys.stderr)
            return 3
        print(f"published {reading}", flush=True)
        sent += 1
        if a.count == 0 or sent < a.count:
            time.sleep(a.interval)
    client.disconnect()
    client.loop_stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
