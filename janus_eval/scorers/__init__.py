"""Scorer models and rules of the benchmarks whose scoring is more than string matching (GenEval, ...)."""
