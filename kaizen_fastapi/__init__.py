"""Kaizen FastAPI plugin."""
