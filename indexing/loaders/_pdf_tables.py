"""PDF tables as rows that keep their headers, from PDFium's character geometry.

PDFium's plain text lists a financial table cell by cell ("number soup"): a chunk cannot tell which
number belongs to which row and column. Here the page's words are placed by their boxes, grouped into
lines by baseline and into cells by the gaps between them; a run of lines whose numbers line up on the
same columns is a table, and its header is the line(s) of text just above those columns. Each table row
is then written like the DOCX/XLSX loaders write theirs::

    Net sales | 2023: 94,836; 2022: 97,278

Everything else on the page is kept as PDFium gave it. Only PDFium calls are used (no pdfplumber):
two character boxes per word, through a ctypes prototype without pypdfium2's per-call argument checks,
because per-call overhead dominates the cost.
"""

from __future__ import annotations

import bisect
import ctypes
import math
import re
import struct
from collections.abc import Callable

__all__ = ["page_text_with_tables"]

# A value cell: a number as statements print them, with currency, parentheses for negatives, a sign,
# thousands separators, decimals and a percent/multiple suffix, or a dash / "n/a" standing for nothing.
_NUMBER_RE = re.compile(
    r"[(\[]?[-−–+]?[$€£¥]?\(?[-−–+]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)\)?(?:%|x|pts?|bps?)?[)\]]?\*?",
    re.IGNORECASE)
_DASH_RE = re.compile(r"(?:[$€£¥]?[-—–−]+%?|n/?a|n/?m|\*{1,3}|[†‡])", re.IGNORECASE)
_YEAR_RE = re.compile(r"(?:19|20)\d\d\*?")
# Spaces inside a number cell ("$ 5,363", "(370 )", "12.5 %") go, so that it is recognised as one value.
_NUMBER_SPACE_RE = re.compile(r"(?<=[$€£¥(\[−-])\s+|\s+(?=[)\]%])")
# Lone symbols that a statement sets apart from their number: they belong to the next / previous cell.
_PREFIXES = frozenset({"$", "€", "£", "¥", "(", "$(", "$ (", "[", "US$", "A$", "C$"})
_SUFFIXES = frozenset({")", "%", ")%", "%)", "pts", "bps", "bp", "x", "*"})
_CURRENCIES = frozenset({"$", "€", "£", "¥", "US$", "A$", "C$"})
# Words that end a wrapped row label whose rest is on the next line: "... net of" / "cash acquired".
_CONTINUES_RE = re.compile(r"(?:[-,\x02\ufffe]|\b(?:and|or|of|to|for|in|on|the|from|by|with|net|less|plus))$",
                           re.IGNORECASE)
# A label-column line above a table header that is part of it: "(In thousands)", "(Millions, except ...)".
_UNITS_RE = re.compile(r"thousand|million|billion|except|per share|unaudited|in \$|dollars|percent|\(\w|"
                       r"ended|as of|year|quarter|month|week|period",
                       re.IGNORECASE)
# The end of a sentence: a line of prose just above a table is not its title.
_SENTENCE_RE = re.compile(r"[a-z0-9]{2,}\.(?:\s|$)")
# A hyphen PDFium marks at a line end (U+FFFE, older builds U+0002) inside a wrapped cell label.
_SOFT_HYPHEN_RE = re.compile(r"[\x02\ufffe]\s*(?=[a-zß-öø-ÿ])")
_DIGIT_RUN_RE = re.compile(r"\d[\d,.]*")
_LINE_BREAK_RE = re.compile(r"\r\n|\r|\n")
_TOKEN_RE = re.compile(r"\S+")

_TEXT, _NUMBER, _YEAR, _DASH = 0, 1, 2, 3

# Pages with this many words or more are left alone: they are drawings or maps, not statements, and
# the time they would take is better spent elsewhere.
_MAX_WORDS = 20_000
# Cells of one line closer than this (x line height) are one cell: a word space is about 0.25, while
# statement columns stand at least about one line height apart.
_CELL_GAP = 0.5
# Lines whose baselines are further apart than this (x line height) do not belong to one table.
_ROW_GAP = 3.2
_HEADER_GAP = 2.5
_MAX_HEADER_LINES = 7
# Non-data lines (wrapped labels, subtotals' captions) allowed between two data rows of a table.
_MAX_INNER_LINES = 4


_FIGURE_START = frozenset("([-−–+$€£¥.0123456789—*†‡nN")


def _is_figure(word: str) -> bool:
    if word[0] not in _FIGURE_START or word in _SUFFIXES:  # most words are words: skip the patterns
        return False
    return bool(_NUMBER_RE.fullmatch(word) or _DASH_RE.fullmatch(word))


class _Word:
    __slots__ = ("bottom", "start", "text", "top", "x0", "x1")

    def __init__(self, x0: float, x1: float, bottom: float, top: float, text: str, start: int) -> None:
        self.x0, self.x1, self.bottom, self.top, self.text, self.start = x0, x1, bottom, top, text, start


class _Cell:
    __slots__ = ("kind", "text", "x0", "x1")

    def __init__(self, x0: float, x1: float, text: str) -> None:
        self.x0, self.x1 = x0, x1
        self.text = text
        self.kind = _TEXT

    def classify(self) -> None:
        squeezed = _NUMBER_SPACE_RE.sub("", self.text) if " " in self.text else self.text
        if _NUMBER_RE.fullmatch(squeezed):
            self.text = squeezed
            self.kind = _YEAR if _YEAR_RE.fullmatch(squeezed) else _NUMBER
        elif _DASH_RE.fullmatch(squeezed):
            self.text = squeezed
            self.kind = _DASH
        else:
            self.kind = _TEXT


class _Line:
    __slots__ = ("bottom", "cells", "cy", "h", "is_data", "top", "values", "words")

    def __init__(self, word: _Word) -> None:
        self.words = [word]
        self.bottom, self.top = word.bottom, word.top
        self.h = word.top - word.bottom
        self.cy = (word.top + word.bottom) / 2
        self.cells: list[_Cell] = []
        self.values: list[_Cell] = []
        self.is_data = False

    def finish(self) -> None:
        """Words left to right, cut into cells; a data row has two or more value cells, at least one a
        number that is not a bare year (a header row is), and no words after the first value but
        short notes ("NM"): a table row ends in its figures, prose or a phone number does not."""
        self.words.sort(key=lambda w: w.x0)
        self.cells = _cells(self)
        self.values = [c for c in self.cells if c.kind != _TEXT]
        number = any(c.kind == _NUMBER for c in self.values)
        trailing_words = False
        if number and len(self.values) >= 2:
            first_value = self.cells.index(self.values[0])
            trailing_words = any(c.kind == _TEXT and (len(c.text) > 6 or " " in c.text)
                                 for c in self.cells[first_value + 1:])
        self.is_data = number and len(self.values) >= 2 and not trailing_words


# --------------------------------------------------------------------------- PDFium geometry

_BoxFn = Callable[[int], tuple[float, float, float, float]]
_UprightFn = Callable[[int], bool]


def _box_reader(textpage, rotation: int) -> _BoxFn:
    """A function char index -> loose (x0, x1, bottom, top) box of that char as the page is shown.

    pypdfium2's wrappers check and convert every argument and allocate four doubles per call, which
    costs several times what PDFium itself needs; a prototype that takes plain addresses, writing into
    one reused FS_RECTF, is the same C call without that overhead. Falls back to the wrapper.
    """
    try:
        import pypdfium2.raw as pdfium_c

        original = pdfium_c.FPDFText_GetLooseCharBox
        function = type(original)(ctypes.cast(original, ctypes.c_void_p).value)
        function.argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p)
        function.restype = ctypes.c_int
        handle = ctypes.cast(textpage.raw, ctypes.c_void_p).value
        rect = (ctypes.c_float * 4)()
        address = ctypes.addressof(rect)
        unpack = struct.Struct("4f").unpack_from

        def box(index: int) -> tuple[float, float, float, float]:
            if not function(handle, index, address):
                return (0.0, 0.0, 0.0, 0.0)
            left, top, right, bottom = unpack(rect)
            return (left, right, bottom, top)
    except Exception:  # an older or different binding: the slower public API gives the same boxes
        def box(index: int) -> tuple[float, float, float, float]:
            left, bottom, right, top = textpage.get_charbox(index, loose=True)
            return (left, right, bottom, top)

    if not rotation:
        return box
    return lambda index: _upright(box(index), rotation)


def _upright_reader(textpage, rotation: int) -> _UprightFn:
    """A function char index -> whether that char is set upright as the page is shown (its baseline
    runs left to right, within about 10 degrees). PDFium gives the angle clockwise, as /Rotate turns
    the page; a char it cannot tell (-1) counts as not upright."""
    try:
        import pypdfium2.raw as pdfium_c

        angle_of = pdfium_c.FPDFText_GetCharAngle
        handle = textpage.raw
    except Exception:
        return lambda index: False
    turn = math.radians(rotation)
    full = 2 * math.pi

    def upright(index: int) -> bool:
        angle = angle_of(handle, index)
        if angle < 0:
            return False
        shown = (angle + turn) % full
        return min(shown, full - shown) < 0.2

    return upright


def _rotation(textpage) -> int:
    try:
        return int(textpage.parent.get_rotation()) % 360
    except Exception:
        return 0


def _upright(box: tuple[float, float, float, float], rotation: int) -> tuple[float, float, float, float]:
    """(x0, x1, bottom, top) in page space -> the same as the page is shown (PDF /Rotate, clockwise)."""
    left, right, bottom, top = box
    if rotation == 90:
        return bottom, top, -right, -left
    if rotation == 180:
        return -right, -left, -top, -bottom
    if rotation == 270:
        return -top, -bottom, left, right
    return box


def _words(text: str, read: _BoxFn, upright: _UprightFn) -> list[_Word] | None:
    """Placed words (whitespace-separated tokens) in text order; two box look-ups per word.

    None when much of the text does not run left to right as the page is shown (text set sideways
    without a page rotation): lines and columns cannot be read from it."""
    words: list[_Word] = []
    append = words.append
    long_tokens = split_tokens = 0
    for match in _TOKEN_RE.finditer(text):
        start, end = match.span()
        x0, x1, bottom, top = read(start)
        height = top - bottom
        if height <= 0:  # a glyph PDFium cannot place: the word stays in the plain text
            continue
        if end - start > 1:
            long_tokens += 1
            _, last_x1, last_bottom, last_top = read(end - 1)
            if abs((last_bottom + last_top) - (bottom + top)) >= height or last_x1 < x0:
                # the token runs across lines or columns (no space PDFium could see): place each char
                split_tokens += 1
                words.extend(_split_token(text, start, end, read, upright))
                continue
            if last_x1 > x1:
                x1 = last_x1
            if last_bottom < bottom:
                bottom = last_bottom
            if last_top > top:
                top = last_top
        append(_Word(x0, x1, bottom, top, match.group(), start))
    if len(words) > _MAX_WORDS or split_tokens > max(5, long_tokens // 5):
        return None
    return words


def _split_token(text: str, start: int, end: int, read: _BoxFn, upright: _UprightFn) -> list[_Word]:
    """A token whose chars stand on more than one baseline or column, cut where a char does not follow
    on from the one before (PDFium glued cells of two rows: "(7,442)-" is "(7,442)" and the next row's
    "-"), each piece placed by its own boxes."""
    pieces: list[_Word] = []
    current: _Word | None = None
    for index in range(start, end):
        x0, x1, bottom, top = read(index)
        height = top - bottom
        if height <= 0:
            continue
        if current is not None:
            line_height = current.top - current.bottom
            joins = (abs((bottom + top) - (current.bottom + current.top)) < line_height
                     and current.x1 - 0.1 * line_height <= x0 <= current.x1 + _CELL_GAP * 0.5 * line_height)
            if joins:
                current.x1 = max(current.x1, x1)
                current.text += text[index]
                continue
        current = _Word(x0, x1, bottom, top, text[index], index)
        pieces.append(current)
    # A lone character set sideways is a letter of a rotated word (an axis label), not a cell: it stays
    # in the plain text. One set upright is a cell of its own ("-", "5", a footnote mark) and is kept.
    return [piece for piece in pieces if len(piece.text) > 1 or upright(piece.start)]


def _lines(words: list[_Word]) -> list[_Line]:
    """Words grouped into lines (top of the page first), each line's words and cells left to right."""
    lines: list[_Line] = []
    current: _Line | None = None
    for word in sorted(words, key=lambda w: -(w.top + w.bottom)):
        if current is not None:
            height = word.top - word.bottom
            overlap = min(word.top, current.top) - max(word.bottom, current.bottom)
            if overlap >= 0.5 * min(height, current.h):
                current.words.append(word)
                if height > current.h:  # the line's reference box is its tallest word (not superscripts)
                    current.bottom, current.top, current.h = word.bottom, word.top, height
                    current.cy = (word.top + word.bottom) / 2
                continue
        current = _Line(word)
        lines.append(current)
    for line in lines:
        line.finish()
    return lines


def _cells(line: _Line) -> list[_Cell]:
    gap = _CELL_GAP * line.h
    raw: list[list] = []  # [x0, x1, [texts]]
    previous = ""  # the figure the cell so far ends with ("" when it ends with words)
    for word in line.words:
        figure = _is_figure(word.text)
        # Two figures side by side are two columns however close they stand ("1,147 68.6"), and so
        # is a "$" right after an amount ("22.4 % $ 1,672": the "$" opens the next column; but
        # "2022 $ million" is one caption).
        apart = bool(previous) and (figure or (word.text in _CURRENCIES and not _YEAR_RE.fullmatch(previous)))
        if figure:
            previous = word.text
        elif not (previous and word.text in _SUFFIXES):
            previous = ""
        if raw and not apart and word.x0 - raw[-1][1] <= gap:
            raw[-1][1] = max(raw[-1][1], word.x1)
            raw[-1][2].append(word.text)
        else:
            raw.append([word.x0, word.x1, [word.text]])
    cells = [_Cell(x0, x1, " ".join(texts)) for x0, x1, texts in raw]
    # "$" and "(" set apart from their number join it, ")" and "%" join the number before them; the
    # cell keeps the number's own extent, so that columns are found from the numbers alone.
    merged: list[_Cell] = []
    prefix = ""
    for cell in cells:
        if cell.text in _PREFIXES:
            prefix += cell.text
            continue
        if prefix:
            cell.text = prefix + cell.text
            prefix = ""
        if cell.text in _SUFFIXES and merged and merged[-1].text[-1:].isdigit():
            merged[-1].text += cell.text
            continue
        merged.append(cell)
    if prefix:  # a currency sign with no number after it: a cell of its own
        merged.append(_Cell(cells[-1].x0, cells[-1].x1, prefix))
    for cell in merged:
        cell.classify()
        if "\ufffe" in cell.text or "\x02" in cell.text:
            cell.text = _SOFT_HYPHEN_RE.sub("", cell.text)
    return merged


# --------------------------------------------------------------------------- table detection


class _Table:
    __slots__ = ("columns", "first", "header", "header_lines", "label_header", "label_right", "last", "rows_from")

    def __init__(self) -> None:
        self.columns: list[tuple[float, float]] = []
        self.label_right = 0.0  # right end of the row labels: header cells right of it are over the columns
        self.header: list[str] = []
        self.label_header: list[str] = []
        self.header_lines: set[int] = set()  # lines that went into the column names
        self.first = self.rows_from = self.last = 0  # line indexes: header start, first row, last row


def _columns(lines: list[_Line]) -> list[tuple[float, float]]:
    """Value cells of the data rows clustered into columns: cells that overlap horizontally."""
    cells = sorted((c for line in lines if line.is_data for c in line.values), key=lambda c: c.x0)
    clusters: list[list] = []  # [x0, x1]
    for cell in cells:
        if clusters and cell.x0 <= clusters[-1][1]:
            clusters[-1][1] = max(clusters[-1][1], cell.x1)
        else:
            clusters.append([cell.x0, cell.x1])
    return [(x0, x1) for x0, x1 in clusters]


def _column_of(cell: _Cell, columns: list[tuple[float, float]]) -> int:
    best, best_overlap = -1, 0.0
    for index, (x0, x1) in enumerate(columns):
        overlap = min(cell.x1, x1) - max(cell.x0, x0)
        if overlap > best_overlap:
            best, best_overlap = index, overlap
    if best >= 0:
        return best
    middle = (cell.x0 + cell.x1) / 2
    return min(range(len(columns)), key=lambda i: abs((columns[i][0] + columns[i][1]) / 2 - middle))


def _aligned(lines: list[_Line], columns: list[tuple[float, float]]) -> bool:
    """Most data rows put their values in distinct columns (a ragged run is not a table)."""
    rows = clashes = 0
    for line in lines:
        if not line.is_data:
            continue
        rows += 1
        used = [_column_of(c, columns) for c in line.values]
        if len(set(used)) < len(used):
            clashes += 1
    return rows >= 2 and clashes * 5 <= rows


def _crosses(line: _Line, x: float) -> bool:
    """A text cell that starts left of ``x`` and runs on past it: prose or a title, not a table row."""
    slack = 0.5 * line.h
    return any(c.kind == _TEXT and c.x0 < x - slack and c.x1 > x + slack for c in line.cells)


def _captions_columns(line: _Line, x: float) -> bool:
    """A line with text over the columns and no figures: the header of the next table, not a row."""
    slack = 0.5 * line.h
    return (any(c.kind in (_TEXT, _YEAR) and c.x1 > x + slack for c in line.cells)
            and not any(c.kind == _NUMBER for c in line.cells))


def _find_tables(lines: list[_Line], page_width: float) -> list[_Table]:
    tables: list[_Table] = []
    data = [line.is_data for line in lines]
    floor = 0  # lines above this belong to an earlier table
    index = 0
    count = len(lines)
    while index < count:
        if not data[index]:
            index += 1
            continue
        region = min(c.x0 for c in lines[index].values)
        last_data = index
        cursor = index + 1
        while cursor < count:
            line, above = lines[cursor], lines[cursor - 1]
            if above.cy - line.cy > _ROW_GAP * max(above.h, line.h):
                break
            if data[cursor]:
                last_data = cursor
                region = min(region, min(c.x0 for c in line.values))
            elif _crosses(line, region) or _captions_columns(line, region) or cursor - last_data > _MAX_INNER_LINES:
                break
            cursor += 1
        end = last_data
        # A caption-less subtotal or a one-value row right after the last data row still belongs, if it
        # follows at the table's own row spacing (a page number further down does not).
        pitches = sorted(lines[i].cy - lines[i + 1].cy for i in range(index, last_data))
        pitch = pitches[len(pitches) // 2] if pitches else 0.0
        while (end + 1 < cursor and not _crosses(lines[end + 1], region)
               and lines[end].cy - lines[end + 1].cy <= 1.5 * pitch
               and any(c.kind != _TEXT and c.x0 >= region - lines[end + 1].h for c in lines[end + 1].cells)):
            end += 1
        table = _table(lines, index, end, floor, page_width)
        if table is None:
            index += 1  # this line starts no table; a later one still may
            continue
        tables.append(table)
        floor = table.last + 1
        index = table.last + 1
    return tables


def _table(lines: list[_Line], start: int, end: int, floor: int, page_width: float) -> _Table | None:
    body = lines[start:end + 1]
    if sum(1 for line in body if line.is_data) < 2:
        return None
    columns = _columns(body)
    if len(columns) < 2 or not _aligned(body, columns):
        return None
    table = _Table()
    table.columns = columns
    labels = [c.x1 for line in body if line.is_data for c in line.cells if c.kind == _TEXT and c.x0 < columns[0][0]]
    table.label_right = max(labels, default=columns[0][0])
    table.rows_from = table.first = start
    table.last = end
    _find_header(lines, table, floor, page_width)
    return table


def _find_header(lines: list[_Line], table: _Table, floor: int, page_width: float) -> None:
    """The nearest lines above the rows with text over the columns; sets header names and first line."""
    columns = table.columns
    left = columns[0][0]
    first_width = columns[0][1] - columns[0][0]
    parts: list[list[str]] = [[] for _ in columns]
    blocks: list[tuple[float, float] | None] = [None] * len(columns)  # extent of each column's header
    below_owner = [-1] * len(columns)  # per column, the nearest header cell below that names it (an id)
    label_parts: list[str] = []
    header_lines: list[int] = []
    skipped: list[int] = []  # section captions between the header and the first row
    below = lines[table.rows_from]
    titled = False  # a units / title line in the label column was taken: the header is complete
    cursor = table.rows_from - 1
    while cursor >= floor and len(header_lines) < _MAX_HEADER_LINES:
        line = lines[cursor]
        if line.cy - below.cy > _HEADER_GAP * max(line.h, below.h):
            break
        if any(c.kind in (_NUMBER, _DASH) for c in line.cells):
            break  # figures above the rows are another table or prose, not a header
        over = [c for c in line.cells if _over_columns(c, table)]
        aside = [c for c in line.cells if not _over_columns(c, table)]
        # A cell from the label column on over the columns is a title or prose; a caption centred over a
        # wide column may start well left of its figures, but not inside the labels.
        start_limit = min(left - max(first_width, 2 * line.h), table.label_right)
        if any(c.x0 < start_limit or c.x1 - c.x0 > 0.6 * page_width or c.text.count(" ") >= 8 for c in over):
            break  # a title or a sentence across the page, not a column's caption
        aside_text = " ".join(c.text for c in aside)
        if over and titled:
            break  # column captions above the table's title or units line belong to something else
        units = len(aside_text) <= 60 and _UNITS_RE.search(aside_text) and not _SENTENCE_RE.search(aside_text)
        if over or (header_lines and units):
            header_lines.append(cursor)
            titled = titled or not over
        elif not header_lines and len(skipped) < 2 and len(aside_text) <= 80:
            skipped.append(cursor)
            below = line
            cursor -= 1
            continue
        else:
            break
        line_parts: dict[int, list[str]] = {}
        # A line above another header line with fewer cells than columns holds spanning captions
        # ("Years Ended", "Three Months Ended"), centred over a group of columns wider than they are.
        spanning = bool(header_lines[:-1]) and len(over) < len(columns)
        covers = _header_columns(over, columns, blocks, below_owner, spanning)
        for number, indexes in enumerate(covers):
            for index in indexes:
                below_owner[index] = cursor * 1000 + number
        for cell, indexes in zip(over, covers, strict=True):
            for index in indexes:
                line_parts.setdefault(index, []).append(cell.text)
                block = blocks[index]
                blocks[index] = (min(block[0], cell.x0), max(block[1], cell.x1)) if block else (cell.x0, cell.x1)
        for index, texts in line_parts.items():
            parts[index].insert(0, " ".join(texts))
        if aside_text:
            label_parts.insert(0, aside_text)
        below = line
        cursor -= 1
    if header_lines:
        table.first = min(header_lines)
        table.header_lines = set(header_lines)
        table.header = [_join_lines(p) for p in parts]
        table.label_header = label_parts
    else:
        table.header = ["" for _ in columns]


def _join_lines(parts: list[str]) -> str:
    """A header's lines as one caption; "local-" + "currency sales" -> "local-currency sales"."""
    joined = ""
    for part in parts:
        joined = joined + part if joined.endswith(("-", "\ufffe", "\x02")) else f"{joined} {part}" if joined else part
    return joined


def _over_columns(cell: _Cell, table: _Table) -> bool:
    """A header cell over the columns: reaching into them, or right of every row label (centred
    over a column wider than its figures, e.g. "2018" above "$ 5,363")."""
    return cell.x1 > table.columns[0][0] or cell.x0 > table.label_right


def _split_below(below: list[int], first: int, last: int) -> bool:
    """The header text under a caption names both edge columns of ``first..last`` (inner ones may be
    bare: a stray figure makes a column of its own) and nothing across the group's edges: "Years
    Ended" over "December 1, | December 2, | November 27,"."""
    inside = below[first:last + 1]
    if inside[0] < 0 or inside[-1] < 0:
        return False
    edges = ([below[first - 1]] if first else []) + ([below[last + 1]] if last + 1 < len(below) else [])
    return not set(edges) & set(inside)


def _header_columns(cells: list[_Cell], columns: list[tuple[float, float]],
                    blocks: list[tuple[float, float] | None], below: list[int],
                    spanning: bool) -> list[list[int]]:
    """For each header cell of one line, the columns it names.

    Each column takes the cell that overlaps it most (a cell must cover a fair part of the narrower of
    the two, so that a wide caption grazing a neighbour does not name it); a cell that overlaps no
    column (a year centred over "$" and figure) takes the nearest free column.

    On a ``spanning`` line (captions above other header lines, fewer than the columns) a cell then
    widens to the largest run of free columns that it is centred over (judged by ``blocks``: per
    column, the extent of the header text already under it) and that the header text below it
    (``below``: per column, an id of the cell naming it, -1 for none) splits into named columns:
    "Years Ended" over three dates, "Three Months Ended" over two years, but not "Total sales" over
    its own "change" and the neighbour's "Translation". A caption centred on its own column's text
    below and no wider is stacked on it ("EPS" / "(Diluted" / "US cents)") and names what the caption
    under it names, unless it is alone on its line and centred over the whole table.
    """
    owner = [-1] * len(columns)
    for column, (x0, x1) in enumerate(columns):
        best_overlap = 0.0
        for index, cell in enumerate(cells):
            overlap = min(cell.x1, x1) - max(cell.x0, x0)
            if overlap > best_overlap and overlap >= 0.3 * min(cell.x1 - cell.x0, x1 - x0):
                owner[column], best_overlap = index, overlap
    covers: list[list[int]] = [[] for _ in cells]
    for column, index in enumerate(owner):
        if index >= 0:
            covers[index].append(column)
    for index, cell in enumerate(cells):
        if covers[index]:
            continue
        middle = (cell.x0 + cell.x1) / 2
        free = [c for c in range(len(columns)) if owner[c] < 0] or list(range(len(columns)))
        column = min(free, key=lambda c: abs((columns[c][0] + columns[c][1]) / 2 - middle))
        if owner[column] < 0:
            owner[column] = index
        covers[index].append(column)
    if not spanning:
        return covers
    extents = [block or column for block, column in zip(blocks, columns, strict=True)]
    for index, cell in enumerate(cells):
        # the cell's zone reaches up to its neighbours on the line
        zone_low = cells[index - 1].x1 if index else float("-inf")
        zone_high = cells[index + 1].x0 if index + 1 < len(cells) else float("inf")
        middle = (cell.x0 + cell.x1) / 2
        tolerance = max(0.1 * (cell.x1 - cell.x0), 0.5 * (columns[0][1] - columns[0][0]))

        def free(column: int, index: int = index, low: float = zone_low, high: float = zone_high) -> bool:
            centre = (columns[column][0] + columns[column][1]) / 2
            return owner[column] in (-1, index) and low <= centre <= high

        best = covers[index]
        own_left = min(extents[c][0] for c in best)
        own_right = max(extents[c][1] for c in best)
        stacked = (len(best) == 1 and cell.x1 - cell.x0 < 1.2 * (own_right - own_left)
                   and abs((own_left + own_right) / 2 - middle) <= tolerance and not _YEAR_RE.search(cell.text))
        if stacked:
            # Centred on its own column's caption, no wider, and no year in it: stacked on that caption
            # ("EPS" / "(Diluted"), so it names what the caption names ("Three months ended" /
            # "December 31, 2018" over three columns); alone on its line it may still span the table.
            stacked_on = {below[c] for c in best} - {-1}
            if len(stacked_on) == 1:
                group = [c for c, owner_below in enumerate(below) if owner_below in stacked_on and free(c)]
                if group == list(range(group[0], group[-1] + 1)) and set(best) <= set(group):
                    best = group
            candidates = [(0, len(columns) - 1)] if len(cells) == 1 else []
        else:
            candidates = [(first, last) for first in range(min(best), -1, -1)
                          for last in range(max(best), len(columns))]
        for first, last in candidates:
            group = range(first, last + 1)
            if last - first + 1 <= len(best) or not all(free(c) for c in group):
                continue
            left = min(extents[c][0] for c in group)
            right = max(extents[c][1] for c in group)
            if abs((left + right) / 2 - middle) <= tolerance and _split_below(below, first, last):
                best = list(group)
        for column in best:
            owner[column] = index
        covers[index] = best
    return covers


# --------------------------------------------------------------------------- rendering


def _render_table(lines: list[_Line], table: _Table) -> list[str]:
    columns = table.columns
    left = columns[0][0]
    names = table.header
    out: list[str] = []
    if table.label_header:
        out.append(" ".join(table.label_header))
    pending = ""  # a label line with no values: a caption, or the first part of a wrapped label
    # Lines between the header and the first row (captions) come first, then the rows.
    body = [i for i in range(table.first, table.last + 1) if i not in table.header_lines]
    for index in body:
        line = lines[index]
        label_cells: list[str] = []
        values: dict[int, list[str]] = {}
        for cell in line.cells:
            if not values and cell.kind == _TEXT and cell.x0 < left and cell.x1 <= left + line.h:
                label_cells.append(cell.text)
            else:
                values.setdefault(_column_of(cell, columns), []).append(cell.text)
        label = " ".join(label_cells)
        # a wrapped label: "Proceeds from ... pursuant to" / "benefit plans 485", "Non-" / "GAAP 12"
        wrapped = bool(pending) and (not label or label[0].islower() or bool(_CONTINUES_RE.search(pending)))
        if wrapped:
            label = _join_lines([pending, label]) if label else pending
        elif pending:
            out.append(pending)
        pending = ""
        if not values:
            pending = label
            continue
        pairs = []
        for column in sorted(values):
            value = " ".join(values[column])
            pairs.append(f"{names[column]}: {value}" if names[column] else value)
        out.append(f"{label} | {'; '.join(pairs)}" if label else "; ".join(pairs))
    if pending:
        out.append(pending)
    return out


def _assemble(text: str, lines: list[_Line], tables: list[_Table]) -> str:
    """The page text with each table's words replaced by its rows, at the place of its first word."""
    consumed: set[int] = set()
    inserts: dict[int, str] = {}
    for table in tables:
        starts = [w.start for i in range(table.first, table.last + 1) for w in lines[i].words]
        consumed.update(starts)
        inserts[min(starts)] = "\n".join(_render_table(lines, table))
    placed = sorted(w.start for line in lines for w in line.words)
    out: list[str] = []
    position = 0
    for match in _LINE_BREAK_RE.finditer(text + "\n"):
        line_start, line_end = position, match.start()
        position = match.end()
        low = bisect.bisect_left(placed, line_start)
        high = bisect.bisect_left(placed, line_end)
        starts = placed[low:high]
        if not any(s in consumed for s in starts):
            out.append(text[line_start:line_end])
            continue
        kept: list[str] = []
        for match_token in _TOKEN_RE.finditer(text, line_start, line_end):
            token_start, token_end = match_token.span()
            # every word of a token that PDFium placed in pieces starts inside it
            pieces = starts[bisect.bisect_left(starts, token_start):bisect.bisect_left(starts, token_end)]
            for piece in pieces:
                if piece in inserts:
                    if kept:
                        out.append(" ".join(kept))
                        kept = []
                    out.append(inserts[piece])
            if not pieces:  # a word with no box: kept where it was
                kept.append(match_token.group())
            elif not all(p in consumed for p in pieces):
                kept.extend(_unconsumed(text, token_start, token_end, pieces, consumed))
        if kept:
            out.append(" ".join(kept))
    return "\n".join(out).rstrip("\n")


def _unconsumed(text: str, start: int, end: int, pieces: list[int], consumed: set[int]) -> list[str]:
    bounds = [*pieces[1:], end]
    if pieces[0] > start:
        pieces, bounds = [start, *pieces], [pieces[0], *bounds]
    return [text[p:b] for p, b in zip(pieces, bounds, strict=True) if p not in consumed]


# --------------------------------------------------------------------------- entry point


def page_text_with_tables(textpage, page_width: float, page_height: float) -> str | None:
    """The page's text with its tables as one line per row, or None when the page has no table.

    ``textpage`` is an open pypdfium2 ``PdfTextPage``; the caller holds the PDFium lock for the whole
    call and closes the text page afterwards. ``page_width`` / ``page_height`` are the page's size as
    shown (``PdfPage.get_size()``). Each detected table's lines become ``label | header: value; ...``
    lines at the place of the table; all other text stays as ``get_text_range()`` gave it. The result
    uses plain line breaks and is not cleaned yet (apply the usual page clean-up to it). None means
    "no table found": use ``get_text_range()`` unchanged. Only the first PDFium call may raise (e.g.
    on a closed text page); anything that goes wrong after it gives None, so that a page this code
    cannot read still gets its plain text rather than being counted as failed.
    """
    text = textpage.get_text_range()
    # Two data rows need at least four figures; prose pages and most others stop here, cheaply.
    if not text or len(_DIGIT_RUN_RE.findall(text)) < 4:
        return None
    if len(text) > 20 * _MAX_WORDS:  # a map or drawing set in text, not a statement: not worth the time
        return None
    try:
        if textpage.count_chars() != len(text):  # text offsets must be PDFium char indexes
            return None
        rotation = _rotation(textpage)
        read = _box_reader(textpage, rotation)
        width = page_width if page_width > 0 else max(page_width, page_height, 1.0)
        words = _words(text, read, _upright_reader(textpage, rotation))
        if not words:
            return None
        lines = _lines(words)
        tables = _find_tables(lines, width)
        if not tables:
            return None
        return _assemble(text, lines, tables)
    except Exception:  # geometry this code did not foresee: the plain text is still good
        return None
