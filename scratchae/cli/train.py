"""`scratchae demo` and `scratchae train` (placeholder: being written)."""


def add_commands(sub) -> None:
    pass
