"""Restate's service protocol: framing, messages (v5-v7), version negotiation, discovery."""
