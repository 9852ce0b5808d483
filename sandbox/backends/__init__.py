"""Isolation backends. Each takes a RunSpec and returns a RunResult with the same contract."""
