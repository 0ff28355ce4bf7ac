"""Benchmarks of the viewer's and the trainer's hot paths (``python -m bench``; the targets are in docs/design.md)."""
