"""Tools run from the repository: the reliability campaign (`python -m tools.campaign`)."""
