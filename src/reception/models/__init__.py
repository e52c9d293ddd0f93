"""The model families, the baselines, their search, calibration and evaluation, and the champion rule."""
