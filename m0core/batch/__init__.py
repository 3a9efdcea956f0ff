"""Many files: jobs, the SQLite ledger that makes a batch resumable, and the executors (a
local process pool or a Dask cluster) that run one job per file."""

from m0core.batch.runner import BatchJob, BatchProcessor

__all__ = ["BatchJob", "BatchProcessor"]
