"""Metrics: evaluators with a reset / process / evaluate protocol, and confidence intervals."""
