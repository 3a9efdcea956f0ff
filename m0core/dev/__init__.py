"""Media for development, tests, demos and benchmarks: synthetic VODs with known moments."""
