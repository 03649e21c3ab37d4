"""`python -m vpccni` runs the vpccni command."""

from vpccni.cli import main

if __name__ == "__main__":  # not when a spawned worker process (Dask) re-imports the main module
    main()
