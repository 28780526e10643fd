"""Servers of ours on 127.0.0.1 that speak each provider's protocol, with faults a test can select."""
