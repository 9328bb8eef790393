"""The cluster screen's widgets: header and lamps, ensemble strip, node detail, message log,
elections timeline, command bar."""
