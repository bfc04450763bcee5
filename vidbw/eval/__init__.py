"""Evaluation: metrics and evaluation commands (style imitation, flicker, ...)."""
