"""Business logic of the CT server, independent of HTTP (routers in ``kaizen_server.api``)."""
