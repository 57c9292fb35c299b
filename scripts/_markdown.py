"""A markdown table for the README from the scripts in this folder."""


def table(header: list[str], rows: list[list]) -> str:
    """| a | b | rows; None cells (a tool that failed) print as "-"."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("-" if cell is None else str(cell) for cell in row) + " |"
              for row in rows]
    return "\n".join(lines)
