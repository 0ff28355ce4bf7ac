"""Benchmarks of the viewer's and the trainer's hot paths (``python -m bench``, issue 8)."""
