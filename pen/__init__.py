"""pen-ha: pen, the load balancer, reimplemented."""

__version__ = "0.1.0"
C_PEN_VERSION = "0.34.1"
