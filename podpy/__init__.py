"""podpy: a daemonless, rootless container tool in the spirit of Podman."""

__version__ = "0.1.0"
