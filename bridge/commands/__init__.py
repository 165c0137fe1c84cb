"""Subcommands: each module here is `ctbridge <name>` (add_arguments, run, HELP, DESCRIPTION)."""
