"""zkfle's user interface: the `zkfle` command line, the Textual console and the shell."""
