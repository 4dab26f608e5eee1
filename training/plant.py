"""Attacks inside benign context, as extra training positives.

An indirect injection reaches the screener inside something else: a page, a file, a log. A
128-token window then holds a short attack and a hundred tokens of context, and a model trained
on attacks that fill their own text scores such a window low. This script writes training rows
that show the model that case: a benign slice from ``--contexts`` (by default the code slices of
local_negatives.py, which also train as negatives, so each context is seen with and without an
attack) with one short corpus attack inserted at a line break, labelled ``injection``.

Each row's ``category`` is ``planted:<source of the attack>``. eval.py leaves a fold's own
attacks out of its training data by that field, so leave-one-source-out stays honest.

The same number of rows plant a line of benign prose instead, labelled ``benign``: sentences
from the documentation (Markdown, reStructuredText) of the same local crates and Python packages
that local_negatives.py reads. Without them the model learns that any prose line among code or
log lines is an attack; with them, what tells is what the line says. Their category is
``planted:local_docs``.

With ``--benign-corpus N``, N more rows plant a short ``benign`` corpus text the same way (the
questions, requests and snippets that mention the same words attacks use), drawn round-robin
over their sources; their category is ``planted:<source>`` too, so a held-out source's benign
texts stay out of its fold as well. Without them, any corpus-like line among code is an attack.

With ``--scrambled N``, N more ``benign`` rows plant a line whose words are shuffled: a line of
documentation or a short benign corpus text, alternately, words in random order. Synthetic and
garbled log text (word salad with "your", "response", "must") otherwise reads to the model as
an attack, since attacks are the only corpus text that is both odd and second person. Their
category is ``planted:local_docs`` or ``planted:<source>`` as above.

Attacks are the corpus's ``injection`` rows of at most ``--max-attack`` characters, drawn
round-robin over their sources (so no one source dominates) with the project seed; each context
is cut to at most ``--max-context`` characters at line breaks.

Usage: python plant.py [--contexts work/local_code.jsonl] [--n 1500] [--benign 1500]
       [--benign-corpus 0] [--scrambled 0] [--out work/planted.jsonl]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
from pathlib import Path

import common as c
import local_negatives as ln

PROSE_MIN, PROSE_MAX = 30, 250


def prose_lines(text: str) -> list[str]:
    """Lines of ``text`` that read as prose: 30-250 characters, four words or more, mostly
    letters and spaces, not markup (tables, headings, code fences, link lists)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not PROSE_MIN <= len(line) <= PROSE_MAX or line[0] in "#|`<[!*-=>.:" or "http" in line:
            continue
        letters = sum(ch.isalpha() or ch == " " for ch in line)
        if letters < 0.85 * len(line) or len(line.split()) < 4:
            continue
        out.append(line)
    return out


def doc_files():
    """Documentation files of the local crates and Python packages, one package at a time."""
    import glob as g
    import tomllib

    exclude = ln.quoted_crates(c.DEFAULT_CORPUS)
    lock = tomllib.loads((c.REPO / "Cargo.lock").read_text())
    for pkg in sorted(lock.get("package", []), key=lambda p: (p["name"], p["version"])):
        if pkg["name"] in exclude or "source" not in pkg:
            continue
        for d in sorted(g.glob(str(ln.REGISTRY / "*" / f"{pkg['name']}-{pkg['version']}")))[:1]:
            for f in sorted(Path(d).rglob("*.md")):
                yield f"crate {pkg['name']}: {f.name}", f, ""
    if ln.SITE.is_dir():
        for top in sorted(p for p in ln.SITE.iterdir() if p.is_dir()):
            if top.name in ln.SKIP_PY:
                continue
            for pattern in ("*.md", "*.rst", "METADATA"):
                for f in sorted(top.rglob(pattern)):
                    yield f"python package {top.name}: {f.name}", f, ""


def drawn_lines(pick, per_file: int, rng: random.Random):
    """Distinct ``(source, line)`` pairs from :func:`doc_files`, taken round-robin over packages:
    at most ``per_file`` of the lines ``pick(text)`` selects in each file, shuffled. The file
    order is drawn from ``rng`` at the call; files are read (and their lines shuffled) only as
    the caller takes lines."""
    files = list(ln.round_robin(list(doc_files()), rng))

    def lines():
        seen: set[str] = set()
        for source, path, _ in files:
            try:
                found = pick(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError):
                continue
            rng.shuffle(found)
            for line in found[:per_file]:
                if line not in seen:
                    seen.add(line)
                    yield source, line

    return lines()


def benign_lines(n: int, rng: random.Random) -> list[str]:
    """``n`` prose lines from :func:`doc_files`, taken round-robin over packages."""
    return [line for _, line in itertools.islice(drawn_lines(prose_lines, 4, rng), n)]


def cut_lines(text: str, limit: int, rng: random.Random) -> str:
    """A run of whole lines of ``text`` of at most ``limit`` characters, starting at a random line."""
    lines = text.splitlines(keepends=True)
    if len(text) <= limit or len(lines) < 2:
        return text[:limit]
    # A start from which about ``limit`` characters remain.
    tail, starts = 0, []
    for i in range(len(lines) - 1, -1, -1):
        tail += len(lines[i])
        if tail >= limit // 2:
            starts.append(i)
    start = rng.choice(starts) if starts else 0
    out, size = [], 0
    for line in lines[start:]:
        if size + len(line) > limit:
            break
        out.append(line)
        size += len(line)
    return "".join(out) or text[:limit]


def plant(context: str, attack: str, rng: random.Random) -> str:
    """``attack`` on its own line at a random line break of ``context``."""
    breaks = [i + 1 for i, ch in enumerate(context) if ch == "\n"]
    at = rng.choice(breaks) if breaks else len(context)
    head, tail = context[:at], context[at:]
    if head and not head.endswith("\n"):
        head += "\n"
    return f"{head}{attack.strip()}\n{tail}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=None, help="injection corpus (default: the shared one)")
    ap.add_argument("--contexts", default=str(c.WORK / "local_code.jsonl"))
    ap.add_argument("--n", type=int, default=1500, help="rows with a planted attack")
    ap.add_argument("--benign", type=int, default=1500, help="rows with a planted line of documentation")
    ap.add_argument("--benign-corpus", type=int, default=0, help="rows with a planted short benign corpus text")
    ap.add_argument("--scrambled", type=int, default=0, help="rows with a planted line of shuffled words")
    ap.add_argument("--max-attack", type=int, default=400, help="longest planted corpus text, in characters")
    ap.add_argument("--max-context", type=int, default=1200)
    ap.add_argument("--out", default=str(c.WORK / "planted.jsonl"))
    a = ap.parse_args()
    rng = random.Random(c.SEED)

    by_source: dict[str, list[str]] = {}
    benign_by_source: dict[str, list[str]] = {}
    for r in c.load_corpus(a.corpus):
        if 20 <= len(r.text.strip()) <= a.max_attack:
            (by_source if r.label == 1 else benign_by_source).setdefault(r.source, []).append(r.text)
    if not by_source:
        raise SystemExit("no attacks short enough in the corpus")
    for texts in by_source.values():
        rng.shuffle(texts)
    contexts = [r.text for r in c.load_corpus(a.contexts) if r.label == 0]
    if not contexts:
        raise SystemExit(f"{a.contexts}: no benign rows to plant into")
    rng.shuffle(contexts)

    sources = sorted(by_source)
    used = {s: 0 for s in sources}
    rows = []
    for k in range(a.n):
        s = sources[k % len(sources)]
        attack = by_source[s][used[s] % len(by_source[s])]
        used[s] += 1
        context = cut_lines(contexts[k % len(contexts)], a.max_context, rng)
        rows.append({"text": plant(context, attack, rng), "label": "injection",
                     "category": f"planted:{s}", "source": "planted"})
    prose = benign_lines(a.benign, rng)
    for k, line in enumerate(prose):
        context = cut_lines(contexts[(a.n + k) % len(contexts)], a.max_context, rng)
        rows.append({"text": plant(context, line, rng), "label": "benign",
                     "category": "planted:local_docs", "source": "planted"})
    benign_sources = sorted(benign_by_source)
    benign_used = {s: 0 for s in benign_sources}
    for texts in benign_by_source.values():
        rng.shuffle(texts)
    for k in range(a.benign_corpus if benign_sources else 0):
        s = benign_sources[k % len(benign_sources)]
        text = benign_by_source[s][benign_used[s] % len(benign_by_source[s])]
        benign_used[s] += 1
        context = cut_lines(contexts[(a.n + len(prose) + k) % len(contexts)], a.max_context, rng)
        rows.append({"text": plant(context, text, rng), "label": "benign",
                     "category": f"planted:{s}", "source": "planted"})
    scrambled = 0
    if a.scrambled:
        # A second, later draw of documentation lines, past its first ``--benign``; the draw is
        # independent of the one above, so a line may be planted both whole and shuffled.
        spare = benign_lines(a.benign + a.scrambled, rng)[a.benign:]
        for k in range(a.scrambled):
            if k % 2 == 0 and spare:
                line, category = spare[(k // 2) % len(spare)], "planted:local_docs"
            elif benign_sources:
                s = benign_sources[(k // 2) % len(benign_sources)]
                pool = benign_by_source[s]
                line, category = pool[(benign_used[s] + k // 2) % len(pool)], f"planted:{s}"
            else:
                continue
            words = line.split()
            rng.shuffle(words)
            text = " ".join(words)
            text = text[:1].upper() + text[1:].rstrip(".") + "."
            context = cut_lines(contexts[(a.n + len(prose) + a.benign_corpus + k) % len(contexts)], a.max_context, rng)
            rows.append({"text": plant(context, text, rng), "label": "benign", "category": category,
                         "source": "planted"})
            scrambled += 1
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} rows to {out}: attacks from {', '.join(f'{s} {used[s]}' for s in sources)}; "
          f"{len(prose)} with a line of documentation; "
          f"{sum(benign_used.values())} with a benign corpus text ({', '.join(f'{s} {n}' for s, n in benign_used.items())}); "
          f"{scrambled} with a line of shuffled words")


if __name__ == "__main__":
    main()
