"""systemd units, Quadlet files and Kubernetes YAML as pure functions of state."""
