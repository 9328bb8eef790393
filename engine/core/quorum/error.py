"""ConfigError: bad configuration, named with its place (file, line, key)."""

from __future__ import annotations


class ConfigError(Exception):
    """Bad configuration: a zoo.cfg, a myid file, or config text received in a notification.

    `str()` names the place first: `zoo.cfg:7: server.3: election port missing in "…"`.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.key = key
        super().__init__(str(self))

    def __str__(self) -> str:
        place = self.path or ""
        if self.line is not None:
            place = f"{place}:{self.line}" if place else f"line {self.line}"
        return ": ".join([p for p in (place, self.key) if p] + [self.message])

    def located(self, *, path: str | None = None, line: int | None = None) -> ConfigError:
        """The same error with a place filled in where it had none."""
        return ConfigError(
            self.message,
            path=self.path or path,
            line=self.line if self.line is not None else line,
            key=self.key,
        )


__all__ = ["ConfigError"]
