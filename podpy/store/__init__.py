"""Content-addressed blobs, unpacked layers, image records and archives on disk."""
