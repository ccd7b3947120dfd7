"""render/text."""
