//! Integration tests of the codec: replaying the stored corpus, and
//! differential tests against rumqttc's independent `mqttbytes` codec.

mod corpus;
mod differential;
mod helpers;
