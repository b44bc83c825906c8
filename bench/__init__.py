"""Benchmarks and the synthetic exports they (and the tests) import."""
