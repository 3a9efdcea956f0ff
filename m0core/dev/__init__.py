"""Development tools: corpora for measuring detection (not used by the product at run time)."""
