"""The training engine: data, loops, metrics, logging, checkpoints and distributed set-up.

Entry point: `from recipes.run import run_training`.
"""
