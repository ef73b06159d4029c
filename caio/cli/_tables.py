"""Tables that never cut a value: a table while it fits, one block per row when not.

Rich shrinks a table that is wider than the terminal by cutting cells with an
ellipsis, or by folding every column into a few characters. Neither works
for service ids, key ids and request ids, which people copy into the next
command. So a listing is a table only while every column gets its longest
word; otherwise each row becomes a block: its first value (the id) on a
line of its own, then ``label value`` pairs, indented, that wrap as a whole.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

__all__ = ["print_listing"]

# A table's borders and padding: "│ " before each column, " │" after the last.
_PER_COLUMN = 3
_EDGE = 1


def print_listing(
    console: Console, title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]
) -> None:
    """Print ``rows`` (rich markup cells; the first is the row's id) under ``title``."""
    cells = [[Text.from_markup(cell) for cell in row] for row in rows]
    room = console.width - _PER_COLUMN * len(columns) - _EDGE
    narrowest = _narrowest(console, columns, cells)
    if sum(narrowest) <= room:
        widths = _share(narrowest, _natural(columns, cells), room)
        console.print(_table(title, columns, widths, cells))
    else:
        _print_blocks(console, title, columns, cells)


def _longest_word(console: Console, text: Text) -> int:
    return Measurement.get(console, console.options, text).minimum


def _narrowest(console: Console, columns: Sequence[str], cells: list[list[Text]]) -> list[int]:
    """Each column's narrowest readable width: its longest word (the first: its whole id)."""
    widths = []
    for index, header in enumerate(columns):
        column = [row[index] for row in cells]
        if index == 0:  # ids are never wrapped
            needed = max((cell.cell_len for cell in column), default=0)
        else:
            needed = max((_longest_word(console, cell) for cell in column), default=0)
        widths.append(max(needed, _longest_word(console, Text(header))))
    return widths


def _natural(columns: Sequence[str], cells: list[list[Text]]) -> list[int]:
    """Each column's width with nothing wrapped."""
    return [
        max([len(header)] + [row[index].cell_len for row in cells])
        for index, header in enumerate(columns)
    ]


def _share(narrowest: list[int], natural: list[int], room: int) -> list[int]:
    """Widths that fit ``room``: the narrowest, then one column at a time grows, always
    the one with the smallest share of its natural width."""
    widths = list(narrowest)
    for _ in range(room - sum(widths)):
        wanting = [i for i in range(len(widths)) if widths[i] < natural[i]]
        if not wanting:
            break
        widths[min(wanting, key=lambda i: widths[i] / natural[i])] += 1
    return widths


def _table(title: str, columns: Sequence[str], widths: list[int], cells: list[list[Text]]) -> Table:
    table = Table(title=title)
    for index, (header, width) in enumerate(zip(columns, widths, strict=True)):
        # Exact widths: rich's own shrinking would cut words; fold (never an
        # ellipsis) is the last resort.
        table.add_column(header, no_wrap=index == 0, overflow="fold", width=width)
    for row in cells:
        table.add_row(*row)
    return table


def _print_blocks(
    console: Console, title: str, columns: Sequence[str], cells: list[list[Text]]
) -> None:
    console.print(Text(title, style="italic"), justify="center")
    for row in cells:
        console.print(Text.assemble(row[0], style="bold"), overflow="fold")
        pairs = [
            Text.assemble((f"{label} ", "dim"), value)
            for label, value in zip(columns[1:], row[1:], strict=True)
            if value.plain
        ]
        for line in _flow(pairs, console.width - _INDENT):
            console.print(Text.assemble(" " * _INDENT, line), overflow="fold")


_INDENT = 2
_GAP = "   "


def _flow(items: list[Text], width: int) -> list[Text]:
    """Items left to right, a new line when the next does not fit; an item is never split
    between lines unless it alone is wider than a line (then the console folds it)."""
    lines: list[Text] = []
    line = Text()
    for item in items:
        if line.plain and line.cell_len + len(_GAP) + item.cell_len > width:
            lines.append(line)
            line = Text()
        if line.plain:
            line.append(_GAP)
        line.append_text(item)
    if line.plain:
        lines.append(line)
    return lines
