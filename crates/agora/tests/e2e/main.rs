//! End-to-end tests of the `agora` binary: the real process on free ports,
//! driven by independent MQTT clients (`mosquitto_pub`/`mosquitto_sub`,
//! Python paho-mqtt) exactly as users would drive it.

mod durability;
mod helpers;
mod hostile;
mod market;
mod raw;
mod standalone;
