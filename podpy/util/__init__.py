"""Errors with exit codes, paths, atomic writes, locks, the syscall seam. Imports nothing above it."""
