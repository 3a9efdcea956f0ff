"""m0's built-in plugins, one package each, registered through the ``m0`` entry-point group."""
