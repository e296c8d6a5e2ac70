"""Compatibility layers for other benchmarks' files."""
