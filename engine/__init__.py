"""zkfle's engine: a faithful, pure re-implementation of ZooKeeper's Fast Leader Election,
the runtimes around it (threads, simulator, replayer) and the Cluster facade."""
