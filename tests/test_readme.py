#!/usr/bin/python3
"""The README, doc-tested: every ```sql block that shows output is run, and
what it shows must be what it returns.

- Each `## ` section runs on a fresh database (the extension loaded, the
  clock pinned to 2026-11-22 10:00:00); its blocks run in order and share it.
- A block right after a line `<!-- not run: why -->` is skipped (shell-only
  commands, fragments naming the app's own tables).
- Shell dot-commands (`.load`) are skipped: the extension is loaded already.
- A statement's shown output is the `-- ` comment on its last line, or,
  when it has none, the `-- ` lines right after it. A one-line result must open the comment: the
  comment is the result, or the result followed by a space, a colon or a
  comma and prose (`-- 0: denied, nothing recorded`). Rows print like the
  sqlite3 shell (`|` between columns, NULL as `NULL`); rows shown one per
  comment line are compared cell by cell with spaces trimmed, so columns
  may be aligned. A result broken over several comment lines (long JSON) is
  compared with the lines joined. An error shows as `-- Error: MESSAGE`.
- Statements without a shown output, and statements that return no rows
  (INSERT, UPDATE, CREATE: their comment is prose), must run without error.

Prints "readme: N passed, N failed"."""
import re
import sqlite3
import sys

README = "README.md"
EXT = "./dist/entitlements"
CLOCK = "2026-11-22 10:00:00"
passed = failed = 0


def fresh():
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.enable_load_extension(True)
    db.load_extension(EXT)
    db.enable_load_extension(False)
    db.execute("SELECT entitlements_clock(?)", (CLOCK,))
    return db


def blocks(text):
    """(section, first line number, lines, skipped) for each ```sql block."""
    section, skip, out = None, False, []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            section = line[3:]
        if line.startswith("<!-- not run:"):
            skip = True
        elif line.startswith("```sql"):
            j = i + 1
            while not lines[j].startswith("```"):
                j += 1
            out.append((section, i + 2, lines[i + 1:j], skip))
            skip = False
            i = j
        elif line.strip():
            skip = skip and line.startswith("<!--")
        i += 1
    return out


def statements(lines, first):
    """(line number, sql, shown output lines) for each statement. The output
    is the comment on the statement's last line; a statement without one may
    show it on the `-- ` lines right after it."""
    out, cur, start = [], [], None
    k = 0
    while k < len(lines):
        line = lines[k]
        if not cur and (line.startswith(".") or not line.strip() or line.startswith("--")):
            k += 1  # a shell dot-command, a blank line, a comment of its own
            continue
        if not cur:
            start = first + k
        cur.append(line)
        if sqlite3.complete_statement("\n".join(cur)):
            m = re.search(r";\s*--\s?(.*)$", line)
            shown = [m.group(1).rstrip()] if m else []
            while not m and k + 1 < len(lines) and lines[k + 1].startswith("-- "):
                shown.append(lines[k + 1][3:].rstrip())
                k += 1
            out.append((start, "\n".join(cur), shown))
            cur = []
        k += 1
    return out


def render(rows):
    return ["|".join("NULL" if v is None else str(v) for v in r) for r in rows]


def matches(got, shown):
    """got: result lines; shown: the comment lines."""
    if not shown:
        return True
    def cells(x):
        return [c.strip() for c in x.split("|")]
    if len(got) == 1 and len(shown) == 1:
        s, g = shown[0], got[0]
        return s == g or any(s.startswith(g + sep) for sep in (" ", ":", ",")) or (
            "|" in g and cells(g) == cells(s))
    if len(got) == 1:  # one long value over several lines
        return "".join(x.strip() for x in shown) == got[0] or \
            " ".join(x.strip() for x in shown) == got[0]
    if len(got) == len(shown):  # rows, one per line, cells aligned
        return all(cells(g) == cells(re.sub(r"\s+\(.*\)$", "", s)) for g, s in zip(got, shown))
    return False


def configuration(text):
    """The ```json block of the Configuration section, which the SQL
    reference says its examples run against."""
    m = re.search(r"^## Configuration.*?^```json\n(.*?)^```", text, re.S | re.M)
    return m.group(1)


def main():
    global passed, failed
    text = open(README, encoding="utf-8").read()
    dbs = {}
    for section, first, lines, skip in blocks(text):
        if skip:
            continue
        if section not in dbs:
            dbs[section] = fresh()
            if section == "SQL reference":
                dbs[section].execute("SELECT entitlements_load(?)", (configuration(text),))
        db = dbs[section]
        for line, sql, shown in statements(lines, first):
            try:
                got = render(db.execute(sql).fetchall())
            except sqlite3.Error as e:
                got = ["Error: " + str(e)]
            if not re.match(r"\s*(SELECT|WITH|VALUES|PRAGMA)\b", sql, re.I) and not (
                    shown and shown[0].startswith("Error: ")):
                shown = []  # INSERT, UPDATE, CREATE: no rows; a comment is prose
            if not shown:
                if got and got[0].startswith("Error: "):
                    failed += 1
                    print(f"FAIL README.md:{line}: {sql!r} failed: {got[0]}")
                continue
            if matches(got, shown):
                passed += 1
            else:
                failed += 1
                print(f"FAIL README.md:{line}: {sql}\n  shown: {shown}\n  got:   {got}")
    print(f"readme: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
