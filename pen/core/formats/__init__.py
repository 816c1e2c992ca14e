"""The text formats pen reads and writes, pure: its request log, the web servers' log lines,
HTTP/1.x heads, the PROXY protocol, -F files and `write`, Prometheus text (docs/architecture.md)."""
