"""Imported once by the fork server that starts batch job processes (see
:mod:`m0core.batch.executors`): m0, the job function and the plugins are loaded there, so each job's
process starts with them in memory instead of importing them again (scipy alone takes 0.5 s).
"""

from m0core import plugins  # noqa: F401 - imported for the fork server
from m0core.batch import runner  # noqa: F401

try:
    plugins.load_plugins()
except Exception:  # noqa: S110 - each job loads the plugins again and reports what fails
    pass
