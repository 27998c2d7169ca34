"""OCI runtime-spec generation and executors (podpy's own, runc, crun)."""
