"""Speed benchmarks (run by hand, not by the test suite)."""
