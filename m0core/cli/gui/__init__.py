"""``m0 gui``: a local web app to pick recordings, run them through the batch runner, watch
their progress and look at the results.

The web stack (Starlette, uvicorn) is the optional ``[gui]`` extra and is imported only when the
server starts: :mod:`m0core.cli.gui.command` (the click command) needs nothing beyond m0 itself.
Modules: :mod:`~m0core.cli.gui.files` (the folders the app may touch), :mod:`~m0core.cli.gui.runner`
(one batch at a time in a thread, its live state, cancel), :mod:`~m0core.cli.gui.app` (the routes).
"""
