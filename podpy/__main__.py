"""Allow `python -m podpy`."""

from podpy.cli.main import main

if __name__ == "__main__":
    main()
