"""One exception type for problems the user can fix; the CLI prints it as a single line."""


class EdgeASRError(Exception):
    """A clear, user-facing error (bad input, missing file, tampered artifact, ...)."""
