"""The front ends: the ``m0`` command (click) and, inside it, the web GUI (``m0 gui``)."""
