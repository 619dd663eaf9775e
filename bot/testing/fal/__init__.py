"""The fal stand-in: fal's queue and Platform API on loopback TLS (trustme makes the test CA)."""
