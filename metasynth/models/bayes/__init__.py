"""models/bayes."""
