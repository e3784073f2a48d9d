"""The error every API-layer failure raises: its message names the endpoint."""


class AnalyticsApiError(RuntimeError):
    """The API answered in a way we cannot load from; the message names the endpoint."""

    def __init__(self, message: str, *, status: int | None = None, endpoint: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.endpoint = endpoint
