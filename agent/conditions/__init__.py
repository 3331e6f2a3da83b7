"""Domain condition operators, one module each (in_zone, in_group, node_online...)."""
