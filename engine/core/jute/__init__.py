"""ZooKeeper's jute records, byte-exact with 3.8: the archive, the quorum and data records,
the txns, the snapshot and the transaction log."""

__all__ = ["archive", "records", "snapshot", "stream", "txn", "txnlog"]
