"""The command line and the launchers (embedded processes or Docker Compose)."""
