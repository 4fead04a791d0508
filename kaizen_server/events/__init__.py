"""Prompt-change events: stored rows, a broker that wakes subscribers, the SSE stream."""
