"""Tools run from the repository, campaigns that take longer than a test: the reliability
campaign (`python -m tools.campaign`) and the real-ZooKeeper check campaign
(`python -m tools.zkcampaign`)."""
