"""Command-line interface: parses flags, calls the engine, prints results. Nothing else."""
