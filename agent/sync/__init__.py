"""MQTT sync with central: the station side (see docs/protocol.md)."""
