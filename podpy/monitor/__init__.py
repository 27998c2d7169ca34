"""The conmon-like per-container monitor. Must stay light: no click, no rich."""
