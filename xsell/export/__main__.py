"""``python -m xsell.export``: see :mod:`xsell.export.cli`."""

from xsell.export.cli import main

if __name__ == "__main__":
    main()
