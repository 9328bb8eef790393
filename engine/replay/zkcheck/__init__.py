"""`zkfle check`: real ZooKeeper servers' notifications run through the election model -
the checker that feeds each server's evidence to its model (`checker`, whose doc is the
theory of operation), the model of one server (`model`), logged notifications against the
model's votes (`notifications`) and what a check reports (`report`)."""

__all__ = ["checker", "report"]
