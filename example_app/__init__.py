"""Example app: a FastAPI "summarize a support ticket" feature improved by Kaizen.

Run it with ``uvicorn example_app.main:app --port 8001`` next to a CT server, or let
``scripts/demo.sh`` start both. See ``example_app/main.py`` for the Kaizen wiring.
"""
