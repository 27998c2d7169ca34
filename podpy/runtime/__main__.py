"""``python -m podpy.runtime ...``: the OCI runtime CLI."""

import sys

from podpy.runtime.oci_cli import main

sys.exit(main())
