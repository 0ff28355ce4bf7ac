"""Benchmarks of the viewer's and the trainer's hot paths (``python -m bench``; targets: docs/design.md)."""
