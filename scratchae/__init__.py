"""scratchae (placeholder, filled in by the lead)."""
