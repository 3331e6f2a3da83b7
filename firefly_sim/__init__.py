"""firefly-sim: a simulated Meshtastic mesh that speaks the radio's real TCP API.

Each station radio is a TCP port serving the Meshtastic stream API (so the agent
connects with the unmodified ``meshtastic.tcp_interface.TCPInterface``); virtual
nodes move, talk, report telemetry and go silent as a scenario file or the HTTP
control API says.  See docs/simulator.md.

This package may use ``agent.radio.airtime`` and ``agent.radio.textsplit``; the
agent never imports it.
"""

__version__ = "0.1.0"
