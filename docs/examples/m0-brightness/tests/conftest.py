# m0's pytest helpers: fixtures m0_media, m0_recording, m0_analyze.
pytest_plugins = ["m0core.testing"]
