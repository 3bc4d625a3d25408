"""Code similarity across a class: which submissions were copied from each other.

`dlgrade similarity` reads the class exactly as `grade` does (same ids), fingerprints each
submission and compares every pair; `similarity.csv` ranks the pairs and `similarity.html`
shows each flagged pair side by side with the matching regions marked.

How a disguised copy is still found:

- Tokens, not text. The source is tokenized with pygments (as copydetect does); comments,
  whitespace and docstrings are dropped. Every name the submission binds itself (its
  functions, parameters, variables, attributes it assigns, import aliases) becomes one
  placeholder `V`, so renaming identifiers changes nothing; names it does not bind (torch's
  functions, tensor methods, builtins, keyword arguments) keep their text, since a copier
  cannot rename `torch.einsum` without changing the code. copydetect's own filter turns
  every name into `V`, which makes independent solutions of the same math look alike
  (`V.V(V, V)` for both `torch.matmul(a, b)` and `torch.einsum(s, b)`): that is why the
  tokenizer here is ours; the winnowing and the matched slices are copydetect's.
- Winnowed k-gram fingerprints: every run of `k` tokens is hashed and copydetect's
  `winnow` keeps the minimum of every window of `window` hashes (MOSS's algorithm), so a
  copy is found as a set of shared fingerprints wherever they sit: reordering functions
  only loses the few k-grams that straddle a function boundary. Shared fingerprints
  become matched regions through copydetect's `get_copied_slices`.
- The stub is boilerplate: every k-gram of `assignments/<name>/<module>.py` (signatures,
  helper code it ships, `raise NotImplementedError`) is removed from every fingerprint
  (as copydetect's boilerplate option does), and so is every k-gram that straddles stub
  text, so the untouched stub matches nothing and an honest class is not "similar"
  through the handout.

A pair's score is the larger of the two shares (matched tokens over a submission's
fingerprinted tokens): a student who copied a classmate's whole solution and added code
of their own still shows the classmate's solution as fully matched.

Everything here is a pure function of source texts, except `write`, which writes the two
files. The k-gram hashes are our own polynomial hash, not copydetect's `hashed_kgrams`
(Python's `hash`, salted per process): the same class gives the same scores on every run
and in every worker process.
"""

from __future__ import annotations

import ast
import bisect
import csv
import html
import io
import multiprocessing as mp
import os
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from copydetect.utils import get_copied_slices, winnow
from pygments.lexers import PythonLexer
from pygments.token import Comment, Name, Number, String, Text

from grader.classroom.report import table
from grader.engine import syntax

K = 12
"""Tokens per fingerprinted k-gram: a shared run shorter than this is noise (one line of
`N, C, H, W = x.shape` is 10 tokens). Measured in docs/benchmarks/similarity.md."""
WINDOW = 4
"""Winnowing window: any shared run of K + WINDOW - 1 = 15 tokens is certain to be found."""
THRESHOLD = 0.7
"""Default score at or above which a pair is flagged (shown side by side in the HTML).
Measured on the assignments' own solutions (docs/benchmarks/similarity.md): disguised
copies score 0.85-1.0, independent solutions in different styles at most 0.5; the naive
variants, which reuse whole functions of the reference, up to 0.75 with it."""
MAX_SHOWN = 50
"""At most this many flagged pairs are drawn side by side; the CSV holds every pair."""

CSV_COLUMNS = ["a", "b", "score", "a_share", "b_share", "matched_tokens", "a_lines", "b_lines",
               "kind"]
"""`kind` is `class` for two submissions of the class, `against` when `b` is an entry of a
reference corpus (`--against`: earlier years, known public solutions)."""


class SimilarityError(Exception):
    """Unusable parameters: k, window, threshold, jobs."""


@dataclass(frozen=True)
class Token:
    """One token that counts: its symbol in the fingerprinted string and its span in the
    source."""

    symbol: str
    start: int
    end: int


@dataclass
class Fingerprint:
    """One document (submission or corpus entry) ready to compare."""

    id: str
    source: str
    hashes: np.ndarray = field(repr=False)
    """The winnowed fingerprints kept (the stub's removed), one per occurrence..."""
    positions: np.ndarray = field(repr=False)
    """...and the token index where each one's k-gram starts."""
    coverage: int
    """Tokens covered by the fingerprints kept (the denominator of a share)."""
    token_spans: np.ndarray = field(repr=False)
    """(tokens, 2): each token's [start, end) in the source."""
    line_starts: list[int] = field(repr=False)
    """Offsets of the source's newlines, to turn spans into line numbers."""


@dataclass
class Pair:
    """Two documents compared."""

    a: str
    b: str
    score: float
    a_share: float
    b_share: float
    matched_tokens: int
    a_regions: np.ndarray = field(repr=False)
    """(n, 2): the [start, end) character spans of `a`'s source that match `b`, in order
    (an array: 45,000 pairs of lists of tuples cost seconds to send back from a worker)."""
    b_regions: np.ndarray = field(repr=False)
    a_lines: str = ""
    """The lines of `a` that match, '3-9;14' (1-based)."""
    b_lines: str = ""
    kind: str = "class"


# ---------------------------------------------------------------------------- tokens
_PLACEHOLDER = "V"
_STRING = "S"


def _symbol(text: str) -> str:
    """One character per distinct token text (a plane-15 private-use code point), so a
    k-gram is k tokens whatever their length. Deterministic across processes."""
    return chr(0xF0000 + zlib.crc32(text.encode("utf-8", "surrogatepass")) % 0xFFFE)


def _syntax(source: str) -> tuple[set[str], set[int]] | None:
    """The names a module binds itself (what a copier can rename without changing what the
    code does) and the character offsets of keyword-argument names in calls. None when the
    source does not parse (then every name is a placeholder, as in copydetect)."""
    try:
        tree = syntax.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    names: set[str] = set()
    keywords: set[tuple[int, int]] = set()
    try:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Load):
                names.add(node.attr)  # self.cache = ...
            elif isinstance(node, ast.alias):
                names.add(node.asname or node.name.split(".")[0])
            elif isinstance(node, ast.ExceptHandler) and node.name:
                names.add(node.name)
            elif isinstance(node, (ast.Global, ast.Nonlocal)):
                names.update(node.names)
            elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
                names.add(node.name)
            elif isinstance(node, ast.MatchMapping) and node.rest:
                names.add(node.rest)
            elif isinstance(node, ast.keyword) and node.arg is not None:
                keywords.add((node.lineno, node.col_offset))
    except RecursionError:
        return None
    return names, _offsets(source, keywords)


def _offsets(source: str, places: set[tuple[int, int]]) -> set[int]:
    """(line, UTF-8 byte column) as ast reports them -> character offsets in source."""
    if not places:
        return set()
    lines = source.split("\n")
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    out = set()
    for lineno, col in places:
        if 1 <= lineno <= len(lines):
            prefix = lines[lineno - 1].encode("utf-8", "surrogatepass")[:col]
            out.add(starts[lineno - 1] + len(prefix.decode("utf-8", "replace")))
    return out


def bound_names(source: str) -> set[str] | None:
    """The names a module binds itself, or None when it does not parse."""
    syntax = _syntax(source)
    return None if syntax is None else syntax[0]


def _number(text: str) -> str:
    """A number literal by its value: `1e-8`, `1e-08` and `0.00000001` are one token."""
    try:
        return repr(ast.literal_eval(text))
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text


_CATEGORY: dict = {}


def _category(kind) -> str:
    """What a pygments token type is to the tokenizer (memoized: testing a type's ancestry
    on every token cost a third of the tokenizer's time)."""
    if kind in Comment or kind in Text or kind in String.Doc:
        what = "skip"
    elif kind in String:
        what = "string"
    elif kind in Name:
        what = "name"
    elif kind in Number:
        what = "number"
    else:
        what = "other"
    _CATEGORY[kind] = what
    return what


def tokenize(source: str) -> list[Token]:
    """The tokens that count, in order. Dropped: comments, whitespace, docstrings, and
    grouping parentheses (`return (a, b)` is `return a, b`; `(x * y) + z` is `x * y + z`:
    reformatting adds and removes them freely), but not a call's. Replaced: names the
    source binds and keyword-argument names by `V` (a parameter renamed renames the
    keywords that pass it), each run of string pieces by one `S`, numbers by their value."""
    syntax = _syntax(source)
    bound, keyword_at = syntax if syntax is not None else (None, set())
    out: list[Token] = []
    in_string = False
    groups: list[bool] = []  # per open parenthesis: is it a grouping one (dropped)?
    ends_callee = False  # does the last token end something a `(` would call?
    for start, kind, text in PythonLexer().get_tokens_unprocessed(source):
        end = start + len(text)
        what = _CATEGORY.get(kind) or _category(kind)
        if what == "skip" or not text.strip():
            continue
        if what == "string":
            if in_string:  # the next piece of the same literal (quotes, escapes, f-parts)
                last = out[-1]
                out[-1] = Token(last.symbol, last.start, end)
            else:
                out.append(Token(_STRING, start, end))
            in_string = ends_callee = True
            continue
        in_string = False
        callee, ends_callee = ends_callee, what == "name" or text in (")", "]")
        if text == "(":
            # A call's (or a def's) parenthesis follows a name, a closing bracket or a
            # string; any other one (after an operator, a comma, a keyword) only groups.
            groups.append(not callee)
            if not callee:
                continue
        elif text == ")" and groups and groups.pop():
            continue
        if what == "name" and (bound is None or text in bound or start in keyword_at):
            out.append(Token(_PLACEHOLDER, start, end))
        elif what == "number":
            out.append(Token(_symbol(_number(text)), start, end))
        else:
            out.append(Token(_symbol(text), start, end))
    return out


def _text(tokens: list[Token]) -> str:
    return "".join(t.symbol for t in tokens)


def _check(k: int, window: int) -> None:
    if k < 2 or window < 1:
        raise SimilarityError(f"k must be at least 2 and window at least 1; got k={k}, "
                              f"window={window}")


def _kgram_hashes(text: str, k: int) -> np.ndarray:
    """A hash of every run of k symbols (a polynomial hash, wrapping in 64 bits, kept to 52
    bits so copydetect's winnowing, which compares hashes as floats, sees them exactly).
    copydetect's own `hashed_kgrams` uses Python's `hash`, which is salted per process:
    its winnowing would keep different fingerprints on every run and scores would move by
    a few points between two runs on the same class."""
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    n = len(codes) - k + 1
    if n <= 0:
        return np.array([], dtype=np.int64)
    codes = codes.astype(np.uint64)
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            h = h * np.uint64(1_000_003) + codes[j:j + n]
    return (h >> np.uint64(12)).astype(np.int64)


def boilerplate(source: str | None, *, k: int = K) -> np.ndarray:
    """Every k-gram hash of the stub, sorted (no winnowing, as copydetect's boilerplate
    option)."""
    _check(k, 1)
    if not source:
        return np.array([], dtype=np.int64)
    return np.unique(_kgram_hashes(_text(tokenize(source.replace("\r\n", "\n"))), k))


def fingerprint(doc_id: str, source: str, *, stub: np.ndarray | None = None, k: int = K,
                window: int = WINDOW) -> Fingerprint:
    """Tokenize and winnow one document (copydetect's `winnow`), minus the stub's k-grams."""
    _check(k, window)
    source = source.replace("\r\n", "\n")
    tokens = tokenize(source)
    text = _text(tokens)
    spans = np.array([(t.start, t.end) for t in tokens], dtype=np.int64).reshape(-1, 2)
    lines = np.flatnonzero(np.frombuffer(source.encode("utf-32-le", "surrogatepass"),
                                         dtype=np.uint32) == ord("\n")).tolist()
    hashes = positions = np.array([], dtype=np.int64)
    coverage = 0
    all_hashes = _kgram_hashes(text, k)
    if len(all_hashes):
        hashes, positions = winnow(all_hashes, window, remove_duplicates=False)
        if stub is not None and len(stub):
            # The stub's text never counts: not its k-grams (copydetect's boilerplate
            # removal) and not a k-gram that straddles stub text either (the end of a
            # signature and the first few tokens of a body, which are all the same for
            # `g = dw + weight_decay * w`), so each fingerprint kept is the student's own.
            starts = np.flatnonzero(np.isin(all_hashes, stub))
            stubby = np.zeros(len(text) + 1, dtype=np.int64)
            for offset in range(k):
                stubby[starts + offset] = 1
            inside = np.concatenate([[0], np.cumsum(stubby)])
            keep = inside[positions + k] - inside[positions] == 0
            hashes, positions = hashes[keep], positions[keep]
        covered = np.zeros(len(text), dtype=bool)
        for offset in range(k):
            covered[positions + offset] = True
        coverage = int(covered.sum())
    return Fingerprint(doc_id, source, hashes.astype(np.int64),
                       positions.astype(np.int64), coverage, spans, lines)


# ---------------------------------------------------------------------------- compare
def _regions(fp: Fingerprint, slices: np.ndarray) -> np.ndarray:
    """Token slices [start, end) -> (n, 2) character spans of the source."""
    starts = fp.token_spans[slices[0].astype(np.int64), 0]
    ends = fp.token_spans[slices[1].astype(np.int64) - 1, 1]
    return np.stack([starts, ends], axis=1)


def _line_ranges(fp: Fingerprint, regions: list[tuple[int, int]]) -> str:
    """Character spans -> '3-9;14-20' (1-based source lines, adjacent ranges merged)."""
    merged: list[list[int]] = []
    for start, end in regions:
        lo = bisect.bisect_left(fp.line_starts, start) + 1
        hi = bisect.bisect_left(fp.line_starts, max(start, end - 1)) + 1
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return ";".join(f"{lo}-{hi}" if hi != lo else f"{lo}" for lo, hi in merged)


def _pair(a: Fingerprint, b: Fingerprint, in_b: np.ndarray, in_a: np.ndarray, k: int,
          kind: str) -> Pair:
    """`in_b`: which of a's fingerprints b has too; `in_a`: which of b's a has. Every
    position of a shared fingerprint (what copydetect's find_fingerprint_overlap returns)
    becomes copied slices (copydetect's get_copied_slices), then shares and regions."""
    sa = get_copied_slices(a.positions[in_b], k)
    sb = get_copied_slices(b.positions[in_a], k)
    matched_a = int(np.sum(sa[1] - sa[0]))
    matched_b = int(np.sum(sb[1] - sb[0]))
    share_a = min(1.0, matched_a / a.coverage) if a.coverage else 0.0
    share_b = min(1.0, matched_b / b.coverage) if b.coverage else 0.0
    ra, rb = _regions(a, sa), _regions(b, sb)
    return Pair(a.id, b.id, max(share_a, share_b), share_a, share_b, max(matched_a, matched_b),
                ra, rb, _line_ranges(a, ra.tolist()), _line_ranges(b, rb.tolist()), kind)


_NO_REGIONS = np.zeros((0, 2), dtype=np.int64)


def _nothing(a: Fingerprint, b: Fingerprint, kind: str) -> Pair:
    return Pair(a.id, b.id, 0.0, 0.0, 0.0, 0, _NO_REGIONS, _NO_REGIONS, kind=kind)


def compare(a: Fingerprint, b: Fingerprint, k: int = K, kind: str = "class") -> Pair:
    """How much of `a` and of `b` the shared fingerprints cover, and where."""
    in_b = np.isin(a.hashes, b.hashes)
    if not in_b.any():
        return _nothing(a, b, kind)
    return _pair(a, b, in_b, np.isin(b.hashes, a.hashes), k, kind)


def _rows(rows: list[int], docs: list[Fingerprint], against: list[Fingerprint],
          k: int) -> list[Pair]:
    """The pairs of `compare_all` whose first document is docs[i] for i in rows. The set
    tests are table lookups: every distinct hash gets a small number, and a document's
    numbers mark a table that its partners index into."""
    everyone = docs + against
    _, codes = np.unique(np.concatenate([d.hashes for d in everyone]), return_inverse=True)
    codes = np.split(codes.reshape(-1), np.cumsum([len(d.hashes) for d in everyone])[:-1])
    size = int(max((int(c.max()) for c in codes if len(c)), default=-1)) + 1
    mine, theirs = np.zeros(size, dtype=bool), np.zeros(size, dtype=bool)
    pairs = []
    for i in rows:
        a = docs[i]
        mine[codes[i]] = True
        others = [(j, "class") for j in range(i + 1, len(docs))] + \
                 [(len(docs) + j, "against") for j in range(len(against))]
        for j, kind in others:
            b = everyone[j]
            in_a = mine[codes[j]]
            if not in_a.any():
                pairs.append(_nothing(a, b, kind))
                continue
            shared = codes[j][in_a]
            theirs[shared] = True
            pairs.append(_pair(a, b, theirs[codes[i]], in_a, k, kind))
            theirs[shared] = False
        mine[codes[i]] = False
    return pairs


# What forked workers read (set just before the pool forks, so they inherit it instead
# of receiving every fingerprint through a pipe).
_FORKED: tuple = ()


def _forked_fingerprints(items: list[tuple[str, str]]) -> list[Fingerprint | str]:
    stub, k, window = _FORKED
    out: list[Fingerprint | str] = []
    for doc_id, source in items:
        try:
            out.append(fingerprint(doc_id, source, stub=stub, k=k, window=window))
        except Exception as e:  # one submission never stops the class
            out.append(f"could not be tokenized: {type(e).__name__}")
    return out


def _forked_rows(rows: list[int]) -> list[Pair]:
    return _rows(rows, *_FORKED)


def _pool(jobs: int):
    """A pool of `jobs` forked processes, or None where fork is unavailable (Windows) or
    one job was asked for. Forking is safe here: this process holds no secret and has not
    imported torch."""
    if jobs <= 1 or "fork" not in mp.get_all_start_methods():
        return None
    return mp.get_context("fork").Pool(jobs)


def fingerprint_all(items: list[tuple[str, str]], *, stub: np.ndarray | None = None,
                    k: int = K, window: int = WINDOW,
                    jobs: int = 1) -> list[Fingerprint | str]:
    """`fingerprint` on each (id, source), in order, on `jobs` processes; where one fails
    (it should not: the lexer takes any text), why, as a string."""
    global _FORKED
    _check(k, window)
    chunks = [items[w::jobs] for w in range(max(1, jobs))]
    _FORKED = (stub, k, window)
    try:
        pool = _pool(jobs) if len(items) > 1 else None
        if pool is None:
            return _forked_fingerprints(items)
        with pool:
            parts = pool.map(_forked_fingerprints, chunks)
    finally:
        _FORKED = ()
    out: list[Fingerprint | str] = [""] * len(items)
    for w, part in enumerate(parts):
        out[w::jobs] = part
    return out


def compare_all(docs: list[Fingerprint], against: list[Fingerprint] | None = None,
                k: int = K, jobs: int = 1) -> list[Pair]:
    """Every pair of `docs`, and every doc against every corpus entry (never two corpus
    entries), most similar first (ties by ids, so the order is stable). The same pairs as
    `compare` on each, computed on `jobs` processes (rows dealt out in turn, so each gets
    long and short rows alike)."""
    global _FORKED
    against = against or []
    if not docs:
        return []
    _FORKED = (docs, against, k)
    try:
        pool = _pool(min(jobs, len(docs)))
        if pool is None:
            pairs = _rows(list(range(len(docs))), docs, against, k)
        else:
            with pool:
                parts = pool.map(_forked_rows, [list(range(w, len(docs), jobs))
                                                for w in range(jobs)])
            pairs = [p for part in parts for p in part]
    finally:
        _FORKED = ()
    pairs.sort(key=lambda p: (-p.score, -p.matched_tokens, p.a, p.b))
    return pairs


# ---------------------------------------------------------------------------- output
def csv_text(pairs: list[Pair]) -> str:
    """similarity.csv: one row per pair, most similar first; `a_lines`/`b_lines` are the
    matching source lines ('3-9;14'). Ids are quoted like every text field
    (QUOTE_NONNUMERIC, as grades.csv)."""
    buf = io.StringIO()
    w = csv.writer(buf, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for p in pairs:
        w.writerow([p.a, p.b, round(p.score, 4), round(p.a_share, 4), round(p.b_share, 4),
                    p.matched_tokens, p.a_lines, p.b_lines, p.kind])
    return buf.getvalue()


def _marked(source: str, regions: np.ndarray) -> str:
    """The source HTML-escaped, with each matching region in <mark>."""
    out, pos = [], 0
    for s, e in sorted(map(tuple, np.asarray(regions).tolist())):
        if s < pos:
            s = pos
        if e <= s:
            continue
        out.append(html.escape(source[pos:s]))
        out.append("<mark>" + html.escape(source[s:e]) + "</mark>")
        pos = e
    out.append(html.escape(source[pos:]))
    return "".join(out)


def text_table(pairs: list[Pair], n: int) -> str:
    """The first n pairs as the plain-text table `dlgrade similarity` prints."""
    header = ["a", "b", "score", "of a", "of b", "matched tokens"]
    return table([[p.a, p.b + (" (--against)" if p.kind == "against" else ""), _pct(p.score),
                   _pct(p.a_share), _pct(p.b_share), str(p.matched_tokens)]
                  for p in pairs[:n]], header)


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def html_report(title: str, pairs: list[Pair], sources: dict[str, str],
                against_sources: dict[str, str] | None = None, *,
                threshold: float = THRESHOLD, errors: dict[str, str] | None = None,
                max_shown: int = MAX_SHOWN) -> str:
    """similarity.html: the ranking, then each flagged pair side by side. Class pairs and
    pairs with the reference corpus are listed separately. Every text that comes from a
    submission (ids, code) is escaped."""
    against_sources = against_sources or {}
    esc = html.escape
    n_docs = len(sources)
    parts = [f"<h1>{esc(title)}: code similarity</h1>",
             f"<p>{n_docs} submissions compared ({n_docs * (n_docs - 1) // 2} pairs)"
             + (f" and {len(against_sources)} reference-corpus entries" if against_sources
                else "")
             + f". A pair is flagged when its score (the larger share of a submission "
             f"matched by the other, outside the stub) is at least {_pct(threshold)}. "
             "Identifiers renamed, comments, whitespace and the order of functions do not "
             "hide a match. similarity.csv holds every pair.</p>"]
    # Relative, so it works once `dlgrade grade --out` writes into the same folder.
    parts.append('<p>Class report: <a href="report.html">report.html</a> (after '
                 "<code>dlgrade grade ... --out</code> this folder)</p>")
    shown: list[tuple[str, Pair]] = []
    for kind, heading in (("class", "Pairs within the class"),
                          ("against", "Matches with the reference corpus (--against)")):
        if kind == "against" and not against_sources:
            continue
        ranked = [p for p in pairs if p.kind == kind]
        flagged = [p for p in ranked if p.score >= threshold]
        parts.append(f"<h2>{heading}: {len(flagged)} flagged</h2>")
        rows = []
        for p in ranked[:max(len(flagged), 20)]:
            anchor = ""
            if p.score >= threshold and len(shown) < max_shown:
                anchor = f"pair{len(shown) + 1}"
                shown.append((anchor, p))
            link = f'<a href="#{anchor}">view</a>' if anchor else ""
            rows.append(f"<tr{' class=flag' if p.score >= threshold else ''}>"
                        f"<td>{esc(p.a)}</td><td>{esc(p.b)}</td><td>{_pct(p.score)}</td>"
                        f"<td>{_pct(p.a_share)}</td><td>{_pct(p.b_share)}</td>"
                        f"<td>{p.matched_tokens}</td><td>{link}</td></tr>")
        if rows:
            parts.append("<table><thead><tr><th>a</th><th>b</th><th>score</th>"
                         "<th>of a</th><th>of b</th><th>matched tokens</th><th></th></tr>"
                         "</thead><tbody>" + "".join(rows) + "</tbody></table>")
        else:
            parts.append("<p>No pairs.</p>")
    if len(shown) < sum(p.score >= threshold for p in pairs):
        parts.append(f"<p>Only the first {max_shown} flagged pairs are drawn below.</p>")
    for anchor, p in shown:
        src_b = (against_sources if p.kind == "against" else sources)[p.b]
        parts.append(
            f'<h3 id="{anchor}">{esc(p.a)} and {esc(p.b)}'
            f"{' (reference corpus)' if p.kind == 'against' else ''}: {_pct(p.score)}</h3>"
            f'<div class="pair"><div><p>{esc(p.a)}: {_pct(p.a_share)} matched</p>'
            f"<pre>{_marked(sources[p.a], p.a_regions)}</pre></div>"
            f"<div><p>{esc(p.b)}: {_pct(p.b_share)} matched</p>"
            f"<pre>{_marked(src_b, p.b_regions)}</pre></div></div>")
    if errors:
        parts.append(f"<h2>Not compared ({len(errors)})</h2><table><thead><tr>"
                     "<th>submission</th><th>reason</th></tr></thead><tbody>"
                     + "".join(f"<tr><td>{esc(s)}</td><td>{esc(why[:300])}</td></tr>"
                               for s, why in sorted(errors.items()))
                     + "</tbody></table>")
    style = ("body{font-family:sans-serif;margin:2em;color:#222}"
             "table{border-collapse:collapse;margin:0.5em 0 1em}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:90%}"
             "th{background:#f0f0f0}tr.flag td{background:#fde8e8}"
             ".pair{display:flex;gap:1em}.pair>div{flex:1;min-width:0}"
             "pre{background:#f8f8f8;padding:0.5em;overflow-x:auto;font-size:80%}"
             "mark{background:#ffd27f}")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}: code similarity</title><style>{style}</style>"
            "</head><body>\n" + "\n".join(parts) + "\n</body></html>\n")


# ---------------------------------------------------------------------------- the command
def _write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a crash never leaves half a file. (As
    report.write_atomic, which is not imported: report imports torch, 1.5 s this command
    does not otherwise need.)"""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class Run:
    """What `write` compared and wrote."""

    pairs: list[Pair]
    compared: int
    errors: dict[str, str]
    """Submission id -> why it was not compared (unreadable, as in grades.csv)."""
    csv_path: Path
    html_path: Path
    threshold: float
    """The score from which a pair was flagged."""
    stub: bool
    """Whether a stub was given (and its text discounted)."""
    against: int
    """Reference-corpus entries compared."""


def write(out_dir: Path, title: str, subs: list, against: list | None = None, *,
          stub: str | None = None, threshold: float = THRESHOLD, k: int = K,
          window: int = WINDOW, jobs: int = 1) -> Run:
    """Fingerprint the class (`intake.Submission`s) and the corpus, compare, write
    `out_dir/similarity.csv` and `out_dir/similarity.html`. A submission that could not be
    read is listed as not compared; one that fails to tokenize (it never should: the
    lexer accepts any text) would be too, never stopping the class."""
    if not 0.0 < threshold <= 1.0:
        raise SimilarityError(f"threshold must be in (0, 1]; got {threshold}")
    if jobs < 1:
        raise SimilarityError(f"jobs must be at least 1; got {jobs}")
    base = boilerplate(stub, k=k)
    errors: dict[str, str] = {}

    def prints(items, where):
        readable = [s for s in items if s.source is not None]
        for s in items:
            if s.source is None:
                errors[f"{where}{s.id}"] = s.error or "no source"
        done = fingerprint_all([(s.id, s.source) for s in readable], stub=base, k=k,
                               window=window, jobs=jobs)
        for s, fp in zip(readable, done):
            if isinstance(fp, str):
                errors[f"{where}{s.id}"] = fp
        return [fp for fp in done if not isinstance(fp, str)]

    docs = prints(subs, "")
    corpus = prints(against or [], "--against ")
    pairs = compare_all(docs, corpus, k=k, jobs=jobs)
    sources = {d.id: d.source for d in docs}
    against_sources = {d.id: d.source for d in corpus}
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, html_path = out_dir / "similarity.csv", out_dir / "similarity.html"
    _write_atomic(csv_path, csv_text(pairs))
    _write_atomic(html_path, html_report(title, pairs, sources, against_sources,
                                        threshold=threshold, errors=errors))
    return Run(pairs, len(docs), errors, csv_path, html_path, threshold, bool(stub),
               len(corpus))
