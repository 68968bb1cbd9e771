"""Allow ``python -m p2pfl_core``, which is the same as the ``p2pfl`` command."""

from p2pfl_core.cli.main import main

main()
