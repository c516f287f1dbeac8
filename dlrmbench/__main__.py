"""``python -m dlrmbench`` runs the command-line interface."""

from dlrmbench.cli import main

if __name__ == "__main__":
    main()
