"""A tiny raster canvas written as PNG with the standard library only (zlib), with a 5x7 bitmap
font for labels, so coverage pictures need no imaging package."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

# 5x7 glyphs, one string of 7 rows per character, "#" = ink. Lowercase draws as uppercase.
_GLYPHS = {
    "A": ".###.#...##...#######...##...##...#", "B": "####.#...##...#####.#...##...#####.",
    "C": ".###.#...##....#....#....#...#.###.", "D": "####.#...##...##...##...##...#####.",
    "E": "######....#....####.#....#....#####", "F": "######....#....####.#....#....#....",
    "G": ".###.#...##....#.####...##...#.####", "H": "#...##...##...#######...##...##...#",
    "I": ".###...#....#....#....#....#...###.", "J": "..###" "...#." "...#." "...#." "...#." "#..#." ".##..",
    "K": "#...##..#.#.#..##...#.#..#..#.#...#", "L": "#....#....#....#....#....#....#####",
    "M": "#...###.###.#.##...##...##...##...#", "N": "#...###..##.#.##..###...##...##...#",
    "O": ".###.#...##...##...##...##...#.###.", "P": "####.#...##...#####.#....#....#....",
    "Q": ".###.#...##...##...##.#.##..#..##.#", "R": "####.#...##...#####.#.#..#..#.#...#",
    "S": ".####" "#...." "#...." ".###." "....#" "....#" "####.", "T": "#####..#....#....#....#....#....#..",
    "U": "#...##...##...##...##...##...#.###.", "V": "#...##...##...##...##...#.#.#...#..",
    "W": "#...##...##...##.#.##.#.##.#.#.#.#.", "X": "#...##...#.#.#...#...#.#.#...##...#",
    "Y": "#...##...#.#.#...#....#....#....#..", "Z": "#####....#...#...#...#...#....#####",
    "0": ".###.#...##..###.#.###..##...#.###.", "1": "..#...##....#....#....#....#...###.",
    "2": ".###.#...#....#...#...#...#...#####", "3": "#####" "...#." "..#.." "...#." "....#" "#...#" ".###.",
    "4": "...#...##..#.#.#..#######...#....#.", "5": "######....####.....#....##...#.###.",
    "6": "..##..#...#....####.#...##...#.###.", "7": "#####....#...#...#...#....#....#...",
    "8": ".###.#...##...#.###.#...##...#.###.", "9": ".###.#...##...#.####....#...#..##..",
    " ": "." * 35, ".": "." * 30 + "..#..", "-": "." * 15 + ".###." + "." * 15,
    ":": "....." + "..#.." + "....." + "....." + "..#.." + "....." + ".....",
    "/": "....#" "....#" "...#." "..#.." ".#..." "#...." "#....",
    "(": "...#...#...#....#....#.....#.....#.", ")": ".#.....#.....#....#....#...#...#...",
    "&": ".##..#..#.#.#...#...#.#.##..#.##.##", ",": "." * 25 + "..#...#...",
    "'": "..#.." "..#.." ".#..." "....." "....." "....." ".....", "*": ".....#.#.#.###.#####.###.#.#.#.....",
    "+": ".......#....#..#####..#....#.......", "?": ".###.#...#....#...#....#.........#.",
}
CHAR_W, CHAR_H, SCALE = 6, 8, 1  # cell size in pixels (glyph 5x7 plus spacing)


class Canvas:
    def __init__(self, width: int, height: int, bg: tuple[int, int, int] = (255, 255, 255)) -> None:
        self.w, self.h = width, height
        self.px = bytearray(bytes(bg) * (width * height))

    def rect(self, x: int, y: int, w: int, h: int, color: tuple[int, int, int]) -> None:
        row = bytes(color) * max(0, min(w, self.w - x))
        for yy in range(max(0, y), min(self.h, y + h)):
            start = (yy * self.w + max(0, x)) * 3
            self.px[start:start + len(row)] = row

    def text(self, x: int, y: int, s: str, color: tuple[int, int, int], scale: int = 1) -> None:
        for n, ch in enumerate(s.upper()):
            glyph = _GLYPHS.get(ch, _GLYPHS["?"])
            for i, bit in enumerate(glyph[:35]):
                if bit == "#":
                    self.rect(x + n * CHAR_W * scale + (i % 5) * scale, y + (i // 5) * scale, scale, scale, color)

    def save(self, path: Path) -> None:
        raw = b"".join(b"\x00" + bytes(self.px[r * self.w * 3:(r + 1) * self.w * 3]) for r in range(self.h))

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

        png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0))
        png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
        path.write_bytes(png)
