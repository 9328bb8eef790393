"""ZooKeeper server logs as facts: the tolerant line reader behind `zkfle import` and
`check` - `layout` reads lines into timed records, `statements` recognises what each says."""

__all__ = ["layout", "statements"]
