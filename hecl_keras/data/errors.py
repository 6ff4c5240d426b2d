"""The one exception type the data layer raises."""


class DataError(ValueError):
    """Bad input data. The message always names the offending file or folder."""
