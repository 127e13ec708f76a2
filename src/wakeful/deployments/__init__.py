"""Remote deployments: registration by discovery, durable records, their services."""
