"""Wires the lower layers together: images, containers, pods, volumes, networks and their state."""
