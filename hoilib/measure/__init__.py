"""Measures: the HOI metric, zero-shot scoring, modality-gap measures and tests, effect sizes."""
