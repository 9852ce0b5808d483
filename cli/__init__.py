"""The `tensorjudge` command."""
