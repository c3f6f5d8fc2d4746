"""Evidence files for the demo, generated: small but real PDF, PNG and text files, so that the engine's content
checks pass on them as on files a secretary would upload."""

from __future__ import annotations

import struct
import unicodedata
import zlib


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in folded if not unicodedata.combining(c) and ord(c) < 128)


def pdf(lines: list[str]) -> bytes:
    """A one-page PDF (Helvetica, so the text is folded to ASCII)."""
    def escape(text: str) -> str:
        return _ascii(text).replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    body = "BT /F1 12 Tf 56 780 Td 16 TL " + " ".join(f"({escape(line)}) '" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
        "/Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(body)} >>\nstream\n{body}\nendstream",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{obj}\nendobj\n".encode("ascii")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode("ascii")
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode("ascii")
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode("ascii")
    return out


def png(cells: list[bool]) -> bytes:
    """A checklist as a picture: one square per criterion, green when met, red when not."""
    size, width = 12, 12 * len(cells)
    rows = []
    for y in range(size):
        row = bytearray(b"\x00")
        for met in cells:
            for x in range(size):
                border = x in (0, size - 1) or y in (0, size - 1)
                row += bytes((255, 255, 255) if border else (46, 160, 67) if met else (207, 34, 46))
        rows.append(bytes(row))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(
        b"IEND", b""
    )
