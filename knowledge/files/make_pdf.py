#!/usr/bin/env python3
"""Generate nimbus-thermostat-t2-quick-start.pdf, the demo quick start guide of the fictional
Nimbus Thermostat T2 (Rapport demo knowledge base).

Standard library only: it writes plain PDF 1.4 syntax by hand, with uncompressed content streams,
the standard Type 1 fonts Helvetica, Helvetica-Bold and Helvetica-Oblique (WinAnsiEncoding, so
no font is embedded) and a byte-exact xref table. Output is deterministic, so regenerating
produces an identical file.

Usage: python3 make_pdf.py [OUTPUT]   (default: nimbus-thermostat-t2-quick-start.pdf next to this script)
"""

from __future__ import annotations

import sys
from pathlib import Path

PAGE_W, PAGE_H = 612, 792  # US Letter, in points
MARGIN = 54
CONTENT_W = PAGE_W - 2 * MARGIN

FONTS = {"F1": "Helvetica", "F2": "Helvetica-Bold", "F3": "Helvetica-Oblique"}

# Helvetica advance widths (1/1000 em) for ASCII 32..126, from the standard AFM metrics.
_HELV = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
]


def text_width(s: str, size: float, font: str = "F1") -> float:
    """Approximate rendered width in points (bold is estimated as 7% wider)."""
    units = sum(_HELV[ord(c) - 32] if 32 <= ord(c) <= 126 else 556 for c in s)
    if font == "F2":
        units *= 1.07
    return units * size / 1000


def pdf_string(s: str) -> str:
    """A PDF literal string in WinAnsiEncoding, non-ASCII bytes written as octal escapes."""
    out = []
    for b in s.encode("cp1252"):
        ch = chr(b)
        if ch in "()\\":
            out.append("\\" + ch)
        elif 32 <= b <= 126:
            out.append(ch)
        else:
            out.append("\\%03o" % b)
    return "(" + "".join(out) + ")"


def wrap(s: str, width: float, size: float, font: str = "F1") -> list[str]:
    lines, cur = [], ""
    for word in s.split():
        trial = word if not cur else cur + " " + word
        if text_width(trial, size, font) <= width or not cur:
            cur = trial
        else:
            lines.append(cur)
            cur = word
    if cur:
        lines.append(cur)
    return lines


class Page:
    """One page: a list of content-stream operators plus a simple top-down text cursor."""

    def __init__(self, number: int, total: int):
        self.ops: list[str] = []
        self.y = PAGE_H - MARGIN
        self.number, self.total = number, total

    # --- drawing primitives -------------------------------------------------------------
    def text(self, x: float, y: float, s: str, font: str = "F1", size: float = 10, gray: float = 0):
        self.ops.append(
            f"BT /{font} {size:g} Tf {gray:g} g 1 0 0 1 {x:.2f} {y:.2f} Tm {pdf_string(s)} Tj ET"
        )

    def rule(self, x1: float, y1: float, x2: float, y2: float, width: float = 0.5, gray: float = 0.6):
        self.ops.append(f"{gray:g} G {width:g} w {x1:.2f} {y1:.2f} m {x2:.2f} {y2:.2f} l S")

    def box(self, x: float, y: float, w: float, h: float, gray: float):
        self.ops.append(f"{gray:g} g {x:.2f} {y:.2f} {w:.2f} {h:.2f} re f 0 g")

    # --- flowing layout -----------------------------------------------------------------
    def space(self, pts: float):
        self.y -= pts

    def heading(self, s: str, size: float = 13):
        self.space(size * 0.6)
        self.text(MARGIN, self.y - size, s, "F2", size)
        self.y -= size + 3
        self.rule(MARGIN, self.y, MARGIN + CONTENT_W, self.y, 0.6, 0.75)
        self.y -= 8

    def para(self, s: str, size: float = 10, font: str = "F1", indent: float = 0, lead: float = 1.35,
             gray: float = 0):
        for line in wrap(s, CONTENT_W - indent, size, font):
            self.text(MARGIN + indent, self.y - size, line, font, size, gray)
            self.y -= size * lead
        self.y -= 3

    def item(self, label: str, s: str, size: float = 10, indent: float = 16, bold_lead: str = ""):
        """A bullet or numbered item with a hanging indent; bold_lead is printed bold first."""
        x = MARGIN + indent
        first = True
        self.text(MARGIN + 2, self.y - size, label, "F2" if label.strip(". ").isdigit() else "F1", size)
        if bold_lead:
            self.text(x, self.y - size, bold_lead, "F2", size)
            lead_w = text_width(bold_lead + " ", size, "F2")
            rest = wrap(s, CONTENT_W - indent - lead_w, size)
            if rest:
                self.text(x + lead_w, self.y - size, rest[0], "F1", size)
                s = " ".join(rest[1:])
            else:
                s = ""
            self.y -= size * 1.35
            first = False
        for line in wrap(s, CONTENT_W - indent, size) if s else []:
            self.text(x, self.y - size, line, "F1", size)
            self.y -= size * 1.35
            first = False
        if first:
            self.y -= size * 1.35
        self.y -= 2

    def header_band(self, title: str, subtitle: str):
        self.box(0, PAGE_H - 70, PAGE_W, 70, 0.15)
        self.text(MARGIN, PAGE_H - 36, "NIMBUS HOME", "F2", 9, 0.75)
        self.text(MARGIN, PAGE_H - 56, title, "F2", 17, 1)
        w = text_width(subtitle, 9)
        self.text(PAGE_W - MARGIN - w, PAGE_H - 36, subtitle, "F1", 9, 0.75)
        self.y = PAGE_H - 70 - 18

    def footer(self):
        self.rule(MARGIN, 48, PAGE_W - MARGIN, 48, 0.5, 0.7)
        left = "Nimbus Thermostat T2 Quick Start Guide  |  QSG-T2 Rev. C  |  help.nimbushome.example"
        self.text(MARGIN, 34, left, "F1", 7.5, 0.35)
        right = f"Page {self.number} of {self.total}"
        self.text(PAGE_W - MARGIN - text_width(right, 7.5), 34, right, "F1", 7.5, 0.35)

    def table(self, cols: list[tuple[str, float]], rows: list[list[str]], size: float = 8.5):
        """Single-line cells, one text line per row, so text extractors keep each row together."""
        xs, x = [], MARGIN
        for _, w in cols:
            xs.append(x)
            x += w
        row_h = size * 2.0
        self.box(MARGIN, self.y - row_h, CONTENT_W, row_h, 0.88)
        for (name, _), cx in zip(cols, xs):
            self.text(cx + 4, self.y - row_h + size * 0.65, name, "F2", size)
        self.y -= row_h
        for i, row in enumerate(rows):
            if i % 2 == 1:
                self.box(MARGIN, self.y - row_h, CONTENT_W, row_h, 0.96)
            for cell, cx, (_, w) in zip(row, xs, cols):
                font = "F2" if cell in ("Yes", "No") else "F1"
                assert text_width(cell, size, font) <= w - 6, f"cell too wide: {cell!r}"
                self.text(cx + 4, self.y - row_h + size * 0.65, cell, font, size)
            self.y -= row_h
            self.rule(MARGIN, self.y, MARGIN + CONTENT_W, self.y, 0.4, 0.8)
        self.y -= 8


def build_pages() -> list[Page]:
    total = 3
    pages = []

    # ------------------------------------------------------------------ page 1: box & install
    p = Page(1, total)
    p.header_band("Thermostat T2 \u2013 Quick Start Guide", "Models T2 Mist / T2 Graphite")
    p.para(
        "Thank you for choosing the Nimbus Thermostat T2. Most installations take about 30 minutes. "
        "Before you start, check compatibility on page 2 or in the Nimbus Home app "
        "(+ Add device > Thermostat T2 > Check compatibility).", 10)

    p.heading("In the box")
    for s in [
        "Thermostat T2 display",
        "Base plate with built-in bubble level",
        "Trim plate (covers old screw holes and paint marks)",
        "3 screws and 3 wall anchors",
        "Sheet of 14 wire labels",
        "Power Extender Kit (PEK) for systems without a C wire",
        "This quick start guide",
    ]:
        p.item("\u2022", s)

    p.heading("You will need")
    p.para("A Phillips screwdriver; a drill with a 3/16 in (5 mm) bit if you need new holes; a phone with "
           "the Nimbus Home app (iOS 16 or later, Android 10 or later); and the password of your "
           "2.4 GHz Wi-Fi network. The T2 does not connect to 5 GHz networks.")

    p.heading("Install in 8 steps")
    steps = [
        ("Power off.", "Switch off the breaker for your furnace, air handler or boiler. Change the "
                       "temperature on your old thermostat to confirm that nothing starts."),
        ("Photograph.", "Remove the old thermostat's cover and take a clear photo of the wiring. "
                        "Support may ask for it."),
        ("Label.", "Put a label on each wire showing the terminal letter it was connected to. "
                   "The terminal letter matters, not the wire color."),
        ("Remove.", "Disconnect the wires and unscrew the old base plate."),
        ("No C wire?", "Install the Power Extender Kit at your furnace now (app: Add device > Thermostat T2 > "
                       "No C wire). Two-wire systems need the Nimbus USB-C Power Adapter (sold separately)."),
        ("Mount.", "Feed the wires through the base plate, level it and screw it to the wall. Fit the "
                   "trim plate first if needed."),
        ("Connect.", "Push each wire into the terminal with the same letter until the button clicks. "
                     "Separate Rh and Rc wires can both be connected; no jumper is needed."),
        ("Power on and pair.", "Press the display onto the base, turn the breaker back on and wait about "
                               "30 seconds. In the app, tap + Add device > Thermostat T2 and scan the QR "
                               "code on the display."),
    ]
    for i, (lead, s) in enumerate(steps, 1):
        p.item(f"{i}.", s, bold_lead=lead)

    p.space(4)
    p.para("Need help? Chat in the app or at nimbushome.example/contact, WhatsApp +1 206 555 0142, or call "
           "+1 (206) 555-0142 (US and Canada, Mon-Fri 8:00 a.m.-8:00 p.m. ET, Sat 10:00 a.m.-4:00 p.m. ET).",
           8.5, "F3", gray=0.25)
    p.footer()
    pages.append(p)

    # ------------------------------------------------------------------ page 2: wiring table
    p = Page(2, total)
    p.header_band("Wiring compatibility", "Thermostat T2 \u2013 24 V systems")
    p.para("The T2 works with most 24 V low-voltage heating and cooling systems. Find your system in the "
           "table below. Wire letters are the terminal letters on your old thermostat; wires in "
           "brackets may or may not be present.", 10)

    cols = [("System type", 170), ("Typical wires at thermostat", 150), ("Supported", 52),
            ("Notes", CONTENT_W - 372)]
    rows = [
        ["Gas/oil furnace, heat only", "R, W1, (C)", "Yes", "No C: PEK or adapter (1)"],
        ["Furnace + central AC (1H/1C)", "R, C, W1, Y1, G", "Yes", ""],
        ["Two-stage furnace and AC (2H/2C)", "R, C, W1, W2, Y1, Y2, G", "Yes", ""],
        ["Separate heat/cool transformers", "Rh, Rc, C, W1, Y1, G", "Yes", "No jumper needed"],
        ["Heat pump, no backup heat", "R, C, Y1, (Y2), G, O/B", "Yes", "Set O/B in app (2)"],
        ["Heat pump + aux/emergency heat", "R, C, Y1, (Y2), G, O/B, W2/AUX, (E)", "Yes", "Set aux lockout (3)"],
        ["Dual fuel (heat pump + furnace)", "R, C, Y1, G, O/B, W2/AUX", "Yes", "Set balance point (3)"],
        ["Boiler, 24 V", "R, W1, (C)", "Yes", "No C: adapter (1)"],
        ["Boiler, volt-free on/off terminals", "2 wires to Rh and W1", "Yes", "USB-C adapter (1)"],
        ["Zone control panel", "R, C, W1, Y1, G", "Yes", "Per-zone T2"],
        ["Humidifier / ventilator (accessory)", "ACC+, ACC-", "Yes", "One dry-contact device"],
        ["Electric baseboard, 120/240 V", "2 or 4 thick wires", "No", "Line voltage"],
        ["Gas fireplace, wall furnace", "2 wires, 750 mV", "No", "Millivolt"],
        ["Ductless mini-split (IR remote)", "none", "No", "Not wired"],
    ]
    p.table(cols, rows)

    p.heading("Terminals on the T2 base plate", 11)
    p.para("Rh, Rc, C, W1, W2/AUX, E, Y1, Y2, G, O/B, ACC+, ACC-, PEK (13 push-in terminals, for 18-22 AWG "
           "solid or stranded wire). Each terminal switches 24 VAC at up to 1 A.", 9.5)

    p.heading("Notes", 11)
    notes = [
        "No C wire: with R, W, Y and G wires, use the Power Extender Kit in the box. With only two wires, "
        "use the Nimbus USB-C Power Adapter ($14.99 / CA$19.99 / \u20ac14.99, sold separately).",
        "O/B reversing valve: most heat pumps energize O on cooling (default). Some brands energize B on "
        "heating. If the heat pump blows cold air in heating mode, change Thermostat > Settings > "
        "Equipment > Heat pump > O/B.",
        "Aux heat lockout and dual-fuel balance point are set in Thermostat > Settings > Equipment. "
        "Default aux lockout: 40 \u00b0F (4 \u00b0C) outdoor temperature.",
        "Unlisted wires (for example S1/S2 outdoor sensors, X, L or T): contact support with a photo "
        "of your wiring before you install.",
    ]
    for i, s in enumerate(notes, 1):
        p.item(f"({i})", s, size=9, indent=20)

    p.space(2)
    p.para("Warning: connecting the T2 to a line-voltage (120 V or 240 V) system can cause fire or electric "
           "shock and will damage the thermostat. This damage is not covered by the warranty.", 9, "F2")
    p.footer()
    pages.append(p)

    # ------------------------------------------------------------------ page 3: safety & specs
    p = Page(3, total)
    p.header_band("Safety and specifications", "Keep this guide for future reference")

    p.heading("Safety information")
    for s in [
        "Always turn off power at the breaker before installing or removing the thermostat. "
        "Risk of electric shock and damage to your equipment.",
        "For use with 24 VAC low-voltage systems only. Do not connect to 120 V or 240 V line voltage.",
        "Install according to local electrical and building codes. If you are unsure, use a licensed "
        "HVAC technician.",
        "Indoor use only. Mount on an inside wall about 4-5 ft (1.2-1.5 m) above the floor, away from "
        "direct sunlight, drafts, doorways, lamps and heat sources, which can affect readings.",
        "Your old thermostat may contain mercury in a sealed tube. Do not put it in household waste; "
        "take it to a local hazardous-waste or thermostat recycling point.",
        "Do not open the T2 or try to repair it yourself. This voids the warranty.",
        "At end of life, recycle the T2 as electronic waste (WEEE in the EU). Do not dispose of it "
        "with household waste.",
    ]:
        p.item("\u2022", s, size=9.5)

    p.heading("Specifications")
    spec_cols = [("Item", 150), ("Thermostat T2", CONTENT_W - 150)]
    specs = [
        ["Power", "24 VAC (18-30 VAC), 50/60 Hz via C wire or PEK; or USB-C 5 V / 1 A"],
        ["Power consumption", "Under 1.5 W typical"],
        ["Display", "2.4 in color touchscreen with rotating bezel"],
        ["Wi-Fi", "802.11 b/g/n, 2.4 GHz only; WPA2-Personal or WPA2/WPA3 mixed mode"],
        ["Other radios", "Bluetooth LE 5.0 (setup only); Matter over Wi-Fi"],
        ["Temperature sensor", "Accuracy \u00b10.5 \u00b0C (\u00b11 \u00b0F)"],
        ["Humidity sensor", "Accuracy \u00b13% RH"],
        ["Other sensors", "Occupancy (infrared, up to 5 m / 16 ft), ambient light"],
        ["Setpoint range", "45-90 \u00b0F (7-32 \u00b0C)"],
        ["Operating conditions", "32-104 \u00b0F (0-40 \u00b0C), 5-90% RH non-condensing"],
        ["Dimensions", "84 \u00d7 84 \u00d7 24 mm (3.3 \u00d7 3.3 \u00d7 0.9 in)"],
        ["Weight", "140 g (4.9 oz), display and base plate"],
        ["Finishes", "Mist (white), Graphite (black)"],
        ["Offline data storage", "Up to 14 days of runtime data, uploaded on reconnect"],
        ["Warranty", "2-year limited hardware warranty from delivery (see Warranty Terms)"],
    ]
    p.table(spec_cols, specs, size=8.5)

    p.para("Compliance: FCC Part 15 (US), ISED (Canada), CE marked (EU), RoHS compliant. "
           "Nimbus Home, Inc., Seattle, Washington, USA. EU: Nimbus Home Europe B.V., Amsterdam, the "
           "Netherlands. Nimbus, Nimbus Home and Nimbus Plus are trademarks of Nimbus Home, Inc.",
           8, "F3", gray=0.3)
    p.footer()
    pages.append(p)

    for page in pages:
        assert page.y > 56, f"page {page.number} overflows into the footer (y={page.y:.1f})"
    return pages


def write_pdf(pages: list[Page], out: Path) -> None:
    objects: list[bytes] = []  # objects[i] is object number i+1

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in below
    pages_obj = add(b"")
    font_ids = {
        name: add(f"<< /Type /Font /Subtype /Type1 /BaseFont /{base} /Encoding /WinAnsiEncoding >>".encode())
        for name, base in FONTS.items()
    }
    font_res = " ".join(f"/{n} {i} 0 R" for n, i in font_ids.items())

    page_ids = []
    for page in pages:
        stream = ("\n".join(page.ops) + "\n").encode("latin-1")
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"endstream")
        page_ids.append(add(
            (f"<< /Type /Page /Parent {pages_obj} 0 R /MediaBox [0 0 {PAGE_W} {PAGE_H}] "
             f"/Resources << /Font << {font_res} >> >> /Contents {content} 0 R >>").encode()))

    kids = " ".join(f"{i} 0 R" for i in page_ids)
    objects[pages_obj - 1] = f"<< /Type /Pages /Kids [{kids}] /Count {len(page_ids)} >>".encode()
    objects[catalog - 1] = f"<< /Type /Catalog /Pages {pages_obj} 0 R >>".encode()
    info = add(
        b"<< /Title (Nimbus Thermostat T2 Quick Start Guide) /Author (Nimbus Home) "
        b"/Subject (Box contents, installation, wiring compatibility, safety and specifications) "
        b"/Creator (knowledge/files/make_pdf.py) /Producer (Rapport demo data) "
        b"/CreationDate (D:20260901090000Z) >>")

    buf = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for num, body in enumerate(objects, 1):
        offsets.append(len(buf))
        buf += b"%d 0 obj\n" % num + body + b"\nendobj\n"
    xref_at = len(buf)
    buf += b"xref\n0 %d\n" % (len(objects) + 1)
    buf += b"0000000000 65535 f \n"
    for off in offsets:
        buf += b"%010d 00000 n \n" % off
    buf += (b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (len(objects) + 1, catalog, info, xref_at))
    out.write_bytes(bytes(buf))


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name(
        "nimbus-thermostat-t2-quick-start.pdf")
    write_pdf(build_pages(), out)
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
