#!/usr/bin/env python3
"""An independent MQTT peer for Agora's end-to-end tests, built on paho-mqtt 2.x.

It does one thing per run and reports it on stdout, one line per event, so
the Rust test reading it can assert exactly what a Python user would see:

  connack <reason code>            always, after CONNECT
  suback <code> [<code> ...]       after SUBSCRIBE (sub mode)
  msg <topic> <payload>            for each message received (sub mode)
  puback <mid>                     for each acknowledged publish (pub mode)
  disconnect <reason code>         when the server closes the session

Exit status: 0 when the requested messages arrived / were sent, 2 when the
connection was refused, 3 when every subscription was refused, 4 on timeout.
"""
import argparse
import ssl
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["sub", "pub"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--protocol", choices=["311", "5"], default="311")
    p.add_argument("--transport", choices=["tcp", "websockets"], default="tcp")
    p.add_argument("--ws-path", default="/mqtt")
    p.add_argument("--cafile")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--client-id", default="")
    p.add_argument("--topic", required=True)
    p.add_argument("--message", default="hello")
    p.add_argument("--qos", type=int, default=1)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--timeout", type=float, default=15.0)
    p.add_argument("--session-expiry", type=int, default=0,
                   help="keep the session this many seconds after disconnecting (persistent session)")
    a = p.parse_args()

    proto = mqtt.MQTTv5 if a.protocol == "5" else mqtt.MQTTv311
    kwargs = {}
    if proto == mqtt.MQTTv311:
        kwargs["clean_session"] = a.session_expiry == 0
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=a.client_id, protocol=proto,
                    transport=a.transport, **kwargs)
    if a.transport == "websockets":
        c.ws_set_options(path=a.ws_path)
    if a.cafile:
        c.tls_set(ca_certs=a.cafile, cert_reqs=ssl.CERT_REQUIRED)
    if a.user is not None:
        c.username_pw_set(a.user, a.password)

    done = threading.Event()
    state = {"status": 4, "received": 0, "acked": 0}

    def out(line: str) -> None:
        print(line, flush=True)

    def on_connect(client, userdata, flags, reason_code, properties):
        out(f"connack {reason_code.value}")
        if reason_code.is_failure:
            state["status"] = 2
            done.set()
            return
        if a.mode == "sub":
            client.subscribe(a.topic, qos=a.qos)
        else:
            for i in range(a.count):
                client.publish(a.topic, a.message if a.count == 1 else f"{a.message} {i}", qos=a.qos)
            if a.qos == 0:
                state["status"] = 0
                done.set()

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        codes = [rc.value for rc in reason_codes]
        out("suback " + " ".join(str(c) for c in codes))
        if all(c >= 0x80 for c in codes):
            state["status"] = 3
            done.set()

    def on_message(client, userdata, msg):
        out(f"msg {msg.topic} {msg.payload.decode('utf-8', 'replace')}")
        state["received"] += 1
        if state["received"] >= a.count:
            state["status"] = 0
            done.set()

    def on_publish(client, userdata, mid, reason_code, properties):
        out(f"puback {mid} {reason_code.value}")
        state["acked"] += 1
        if state["acked"] >= a.count:
            state["status"] = 0
            done.set()

    def on_disconnect(client, userdata, flags, reason_code, properties):
        out(f"disconnect {reason_code.value}")
        done.set()

    c.on_connect = on_connect
    c.on_subscribe = on_subscribe
    c.on_message = on_message
    c.on_publish = on_publish
    c.on_disconnect = on_disconnect
    connect_kwargs = {}
    if proto == mqtt.MQTTv5:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties
        if a.session_expiry:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = a.session_expiry
            connect_kwargs["properties"] = props
            connect_kwargs["clean_start"] = False
        else:
            connect_kwargs["clean_start"] = True
    try:
        c.connect(a.host, a.port, keepalive=30, **connect_kwargs)
    except Exception as e:  # refused at the socket or TLS level
        out(f"error {e}")
        return 2
    c.loop_start()
    done.wait(a.timeout)
    if a.mode == "pub":
        time.sleep(0.05)
    c.disconnect()
    c.loop_stop()
    return state["status"]


if __name__ == "__main__":
    sys.exit(main())
