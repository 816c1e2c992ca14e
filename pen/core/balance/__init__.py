"""Balancing decisions: the servers, clients and connection-slot tables, the choice of a
server, and the dispatcher that admits, connects, fails over and queues (docs/architecture.md).
Pure: no sockets, no clock, no event loop."""
