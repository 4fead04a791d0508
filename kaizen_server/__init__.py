"""Kaizen CT server."""
