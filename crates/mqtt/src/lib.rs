//! MQTT 3.1.1 and 5.0 packets: encode and decode over bytes, reason codes, topic names and filters. No I/O.
