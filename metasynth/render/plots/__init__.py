"""render/plots."""
