"""OCI distribution client: references resolution, auth, manifests, blob pull and push. The only user of requests."""
