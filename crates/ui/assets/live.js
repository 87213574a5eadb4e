// Agora: the live view of a product page. A tiny MQTT 3.1.1 client over the WebSocket at
// /mqtt on this same origin: CONNECT with the visitor's name and an access key they
// paste (sent only to this server and never stored), SUBSCRIBE to the product's tree at
// QoS 0, then show the latest PUBLISH packets. Without JavaScript the section stays
// hidden and the page loses nothing else.
"use strict";
(() => {
  const box = document.getElementById("live");
  if (!box || typeof WebSocket === "undefined") return;
  box.hidden = false;
  const form = document.getElementById("live-form");
  const keyInput = document.getElementById("live-key");
  const status = document.getElementById("live-status");
  const list = document.getElementById("live-messages");
  const topic = box.dataset.topic;
  const user = box.dataset.user;
  const MAX_SHOWN = 20;
  const enc = new TextEncoder();
  const dec = new TextDecoder("utf-8", { fatal: false });
  let ws = null;
  let ping = null;

  const say = (text) => { status.textContent = text; };

  // MQTT "remaining length": 7 bits per byte, high bit = more.
  const varint = (n) => {
    const out = [];
    do {
      let b = n % 128;
      n = Math.floor(n / 128);
      if (n > 0) b |= 0x80;
      out.push(b);
    } while (n > 0);
    return out;
  };
  const str = (s) => {
    const b = enc.encode(s);
    return [b.length >> 8, b.length & 0xff, ...b];
  };
  const packet = (first, body) => new Uint8Array([first, ...varint(body.length), ...body]);

  const connect = (key) => {
    const clientId = "agora-web-" + Math.random().toString(36).slice(2, 10);
    // Protocol "MQTT" level 4; flags: username, password, clean session; keep-alive 60 s.
    const body = [...str("MQTT"), 4, 0xc2, 0, 60, ...str(clientId), ...str(user), ...str(key)];
    return packet(0x10, body);
  };
  const subscribe = () => packet(0x82, [0, 1, ...str(topic + "/#"), 0]);

  const show = (t, payload) => {
    const li = document.createElement("li");
    const when = document.createElement("time");
    when.textContent = new Date().toLocaleTimeString();
    const where = document.createElement("code");
    where.textContent = t;
    const what = document.createElement("pre");
    what.className = "code";
    let text = dec.decode(payload);
    if (text.length > 500) text = text.slice(0, 500) + "…";
    what.textContent = text;
    li.append(when, " ", where, what);
    list.prepend(li);
    while (list.children.length > MAX_SHOWN) list.lastElementChild.remove();
  };

  // Packets may be split over frames or share one: keep a buffer and cut whole packets.
  let buf = new Uint8Array(0);
  const onBytes = (bytes) => {
    const joined = new Uint8Array(buf.length + bytes.length);
    joined.set(buf);
    joined.set(bytes, buf.length);
    buf = joined;
    for (;;) {
      if (buf.length < 2) return;
      let len = 0, mul = 1, i = 1;
      for (;;) {
        if (i >= buf.length) return;
        const b = buf[i++];
        len += (b & 0x7f) * mul;
        mul *= 128;
        if ((b & 0x80) === 0) break;
        if (i > 4) { fail("malformed packet"); return; }
      }
      if (buf.length < i + len) return;
      handle(buf[0], buf.subarray(i, i + len));
      buf = buf.slice(i + len);
    }
  };

  const fail = (why) => {
    say(why);
    if (ws) ws.close();
  };

  const handle = (first, body) => {
    const type = first >> 4;
    if (type === 2) { // CONNACK
      const rc = body[1];
      if (rc !== 0) {
        fail(rc === 4 || rc === 5 ? "The broker refused the key (wrong, revoked or expired)." : "The broker refused the connection (code " + rc + ").");
        return;
      }
      say("Connected; subscribing to " + topic + "/# …");
      ws.send(subscribe());
    } else if (type === 9) { // SUBACK
      if (body[2] === 0x80) fail("Not allowed to read " + topic + " with this key.");
      else say("Watching " + topic + "/# — the latest messages appear below.");
    } else if (type === 3) { // PUBLISH
      const tlen = (body[0] << 8) | body[1];
      const t = dec.decode(body.subarray(2, 2 + tlen));
      const qos = (first >> 1) & 3;
      const start = 2 + tlen + (qos > 0 ? 2 : 0);
      show(t, body.subarray(start));
      if (qos === 1) ws.send(new Uint8Array([0x40, 2, body[2 + tlen], body[3 + tlen]]));
    }
  };

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const key = keyInput.value.trim();
    if (!key) return;
    if (ws) ws.close();
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/mqtt";
    say("Connecting …");
    ws = new WebSocket(url, ["mqtt"]);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      ws.send(connect(key));
      keyInput.value = "";
      clearInterval(ping);
      ping = setInterval(() => { if (ws && ws.readyState === 1) ws.send(new Uint8Array([0xc0, 0])); }, 30000);
    };
    ws.onmessage = (m) => onBytes(new Uint8Array(m.data));
    ws.onerror = () => say("The live connection failed.");
    ws.onclose = () => { clearInterval(ping); if (!status.textContent.startsWith("Not allowed") && !status.textContent.startsWith("The broker")) say("Disconnected."); };
  });
})();
