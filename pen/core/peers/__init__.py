"""pen peers: the client table shared between the nodes of a pair (docs/peers.md)."""
