"""Prompt constants another module imports: their source is this file, not the importer."""

from __future__ import annotations

TRIAGE_PROMPT = "Decide which team should handle this support ticket."
"""A constant assigned here and imported by tests/sdk/test_instrument_libraries.py."""
