"""Telemetry: the environment fingerprint and (GPU and host) samplers."""
