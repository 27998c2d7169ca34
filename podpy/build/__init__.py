"""Containerfile parsing and build execution (runs steps through engine, commits through store)."""
