"""Rootless networking: slirp4netns, pasta, ports, netns, bridges."""
