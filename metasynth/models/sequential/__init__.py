"""models/sequential."""
