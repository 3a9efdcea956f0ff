"""Media for development, tests, the demo and benchmarks: synthetic VODs with known moments, and
stream-like recordings made of real recorded sound (:mod:`m0core.dev.corpus`)."""
