"""``python -m m0core`` runs the ``m0`` command."""

from m0core.cli.main import main

if __name__ == "__main__":
    main()
