"""The shared core of Firefly Processes: data model, ids and clocks, wire codec.

Central imports this package; it imports nothing else of the agent (a test enforces it).
"""
