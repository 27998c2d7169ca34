"""Rootless plumbing: subuid/subgid ranges, podpy's user namespace and its pause process."""
