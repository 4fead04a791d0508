"""``python -m kaizen_server serve ...`` (same as the ``kaizen-server`` command)."""

from kaizen_server.cli import main

if __name__ == "__main__":
    main()
