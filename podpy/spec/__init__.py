"""Pure dataclasses and validation: references, digests, platforms, specs. No I/O."""
