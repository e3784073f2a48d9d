"""Dev tooling, not shipped in the wheel: the API simulator, the benchmarks, the demo."""
