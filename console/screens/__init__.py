"""The console's screens: the cluster screen (live or replay), help, and confirmation."""
