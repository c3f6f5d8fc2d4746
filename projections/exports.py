"""The decided classifications below a unit as files: CSV (streamed) and XLSX (XlsxWriter, one row in memory).

Rows are read from the dossiers read model in keyset pages of `EXPORT_PAGE`, so neither the rows nor the file are
ever held whole in memory. The words of the file (headers, level names, yes and no) come from the caller in a
`Wording`, already in the reader's language: this module knows no language.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO
from uuid import UUID

import xlsxwriter

from domain.values import Classification
from projections.models import dossiers as dossiers_model
from projections.models import units as units_model
from projections.store import ReadModelStore

# Rows read per query: a 50,000-row export is 50 queries, each page a few hundred KB of Python objects.
EXPORT_PAGE = 1000
# Bytes per chunk streamed from a finished file.
CHUNK = 64 * 1024
# Column widths in the XLSX, in characters, in the order of `ExportLine`'s fields.
WIDTHS = (6, 24, 60, 34, 10, 8, 14, 12, 16, 7, 18, 14)
# A text cell a spreadsheet would read as a formula (CSV injection) is written with a leading apostrophe.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ExportLine:
    """One classification in force, with typed values (numbers, dates), as both files write it."""

    number: int
    unit_code: str
    unit_name: str
    level: Classification
    four_good: bool | None
    points: Decimal | None
    decided_on: date
    reopened: bool
    rule_set: str
    year: int
    act_number: str | None
    act_date: date | None


@dataclass(frozen=True)
class Wording:
    """The words a file is written in: twelve column headers, the levels' names, yes and no."""

    headers: list[str]
    levels: Mapping[Classification, str]
    yes: str
    no: str

    def four_good(self, value: bool | None) -> str:
        return "" if value is None else self.yes if value else self.no


def decided_lines(store: ReadModelStore, year: int, unit_below: UUID, names_on: date) -> Iterator[ExportLine]:
    """The classifications in force for `year` at and below the unit as the hierarchy stood on `names_on` (the end
    of the period: the units whose decisions it holds, even those moved elsewhere since), by unit code, each unit
    named as it was on that day."""
    subtree = units_model.subtree_as_of(store, unit_below, names_on)
    if subtree is None:
        pages = _pages_below(store, year, unit_below)
    else:
        pages = _pages_of(store, year, [uid for uid, _ in subtree])
    number = 0
    for page in pages:
        ids = [r.classification.unit_id for r in page]
        names = units_model.names_as_of(store, ids, names_on)
        missing = [uid for uid in ids if uid not in names]
        if missing:  # registered after that day: named as it is now
            names.update(units_model.unit_names(store, missing))
        for row in page:
            c = row.classification
            number += 1
            yield ExportLine(
                number=number,
                unit_code=c.unit_code,
                unit_name=names.get(c.unit_id, c.unit_code),
                level=c.level,
                four_good=c.four_good,
                points=_points(row.points),
                decided_on=dossiers_model.vietnam_day(c.decided_at),
                reopened=c.reopened,
                rule_set=c.rule_set_id if c.rule_set_version is None else f"{c.rule_set_id} v{c.rule_set_version}",
                year=c.year,
                act_number=c.act_number,
                act_date=c.act_date,
            )


def _pages_below(store: ReadModelStore, year: int, unit_below: UUID) -> Iterator[list[dossiers_model.DecidedRow]]:
    """Keyset pages along the scope rows: the hierarchy now, which nothing since the day asked about has changed."""
    after: tuple[str, UUID] | None = None
    while True:
        page = dossiers_model.decided_page(store, year, unit_below=unit_below, after=after, limit=EXPORT_PAGE)
        if page:
            yield page
        if len(page) < EXPORT_PAGE:
            return
        last = page[-1].classification
        after = (last.unit_code, last.dossier_id)


def _pages_of(store: ReadModelStore, year: int, unit_ids: list[UUID]) -> Iterator[list[dossiers_model.DecidedRow]]:
    """Pages of these units, given by code: each page sorted by code and the pages in the units' order, so the
    whole is by code too."""
    for start in range(0, len(unit_ids), EXPORT_PAGE):
        chunk = unit_ids[start : start + EXPORT_PAGE]
        page = dossiers_model.decided_page(store, year, unit_ids=chunk, limit=len(chunk))
        if page:
            yield page


def _points(text: str | None) -> Decimal | None:
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


# --- CSV ------------------------------------------------------------------------------------------------------------


def csv_chunks(lines: Iterator[ExportLine], wording: Wording) -> Iterator[bytes]:
    """UTF-8 with a BOM (so that Excel reads the diacritics as UTF-8), one chunk per page of rows. Dates are ISO
    (2024-12-20) and numbers have a point for decimals, whatever the language: a CSV is read by programs too."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(wording.headers)
    for count, line in enumerate(lines, start=1):
        writer.writerow([
            line.number, _cell(line.unit_code), _cell(line.unit_name), wording.levels[line.level],
            wording.four_good(line.four_good), "" if line.points is None else line.points,
            line.decided_on.isoformat(), wording.yes if line.reopened else "", _cell(line.rule_set), line.year,
            _cell(line.act_number or ""), line.act_date.isoformat() if line.act_date else "",
        ])
        if count % EXPORT_PAGE == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


# --- XLSX -----------------------------------------------------------------------------------------------------------


def write_xlsx(path: Path, lines: Iterator[ExportLine], wording: Wording, *, title: str, date_format: str) -> int:
    """Write the rows to an XLSX file at `path`, one row in memory at a time (XlsxWriter's `constant_memory`: each
    row goes to a temporary file beside `path` as it is written); returns how many rows."""
    workbook = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True, "tmpdir": str(path.parent),
            # Text stays text: a unit named "=1+1" or "0123" is not turned into a formula or a number.
            "strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False,
        },
    )
    try:
        workbook.set_properties({"title": title})
        sheet = workbook.add_worksheet(_sheet_name(title))
        bold = workbook.add_format({"bold": True, "text_wrap": True, "valign": "top"})
        day = workbook.add_format({"num_format": date_format})
        for index, width in enumerate(WIDTHS):
            sheet.set_column(index, index, width)
        sheet.freeze_panes(1, 0)
        sheet.write_row(0, 0, wording.headers, bold)
        count = 0
        for count, line in enumerate(lines, start=1):
            sheet.write_number(count, 0, line.number)
            sheet.write_string(count, 1, line.unit_code)
            sheet.write_string(count, 2, line.unit_name)
            sheet.write_string(count, 3, wording.levels[line.level])
            sheet.write_string(count, 4, wording.four_good(line.four_good))
            if line.points is not None:
                sheet.write_number(count, 5, float(line.points))
            sheet.write_datetime(count, 6, line.decided_on, day)
            sheet.write_string(count, 7, wording.yes if line.reopened else "")
            sheet.write_string(count, 8, line.rule_set)
            sheet.write_number(count, 9, line.year)
            if line.act_number:
                sheet.write_string(count, 10, line.act_number)
            if line.act_date is not None:
                sheet.write_datetime(count, 11, line.act_date, day)
        sheet.autofilter(0, 0, max(count, 1), len(wording.headers) - 1)
    finally:
        workbook.close()
    return count


def _sheet_name(title: str) -> str:
    # Excel refuses these characters in a sheet's name, and names longer than 31 characters.
    return re.sub(r"[\[\]:*?/\\']", " ", title)[:31].strip() or "Sheet1"


def xlsx_file(lines: Iterator[ExportLine], wording: Wording, *, title: str, date_format: str) -> IO[bytes]:
    """The finished XLSX as an open file already unlinked: it leaves the disk when closed (streamed, or the request
    abandoned), whatever happens, and no other request can see it."""
    directory = Path(tempfile.mkdtemp(prefix="dossierflow-export-"))
    path = directory / "export.xlsx"
    try:
        write_xlsx(path, lines, wording, title=title, date_format=date_format)
        handle = path.open("rb")
    finally:
        for leftover in directory.iterdir():
            leftover.unlink()
        os.rmdir(directory)
    return handle


def file_chunks(handle: IO[bytes]) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK):
            yield chunk
