"""Self-signed certificates for TLS tests (openssl, installed by scripts/debian-packages.txt)."""
from __future__ import annotations

import subprocess
from pathlib import Path


def make_cert(directory: Path, name: str) -> tuple[Path, Path]:
    crt, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}",
                    "-keyout", str(key), "-out", str(crt)], check=True, capture_output=True)
    return crt, key
