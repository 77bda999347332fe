"""Generated sections of README.md live between two HTML comment markers."""


def replace_section(text: str, start: str, end: str, body: str) -> str:
    """`text` with everything between the `start` and `end` markers replaced by `body`."""
    if start not in text or end not in text:
        raise ValueError(f"README.md lacks the markers {start} ... {end}; put them back where the section goes.")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"
