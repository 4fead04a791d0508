"""HTTP plumbing: problem responses, pure-ASGI middlewares, request logs."""
