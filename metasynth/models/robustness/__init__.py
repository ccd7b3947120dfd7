"""models/robustness."""
