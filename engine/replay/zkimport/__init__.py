"""`zkfle import`: ZooKeeper server logs to one zkfle trace - the files found and opened
(`files`), one pass over each (`scan`, gathering `sources`), events kept in sorted runs
(`runs`), each source resolved to its server and clock (`servers`), the merge into the
trace (`importer`) and what it says it did (`summary`)."""

__all__ = ["importer", "summary"]
