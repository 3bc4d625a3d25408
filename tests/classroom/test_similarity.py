"""Code similarity: the tokenizer, fingerprints, scores and the two files. No grading here
(nothing imports torch); the command itself runs in tests/e2e/test_similarity.py."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from grader.classroom import bench_similarity as bench
from grader.classroom import similarity as sim
from tests.conftest import ROOT

ORIGINAL = '''"""Affine layer."""
import torch


def helper(x):
    return x.reshape(x.shape[0], -1)


def linear_forward(x, w, b):
    """Docstring the student kept."""
    flat = helper(x)  # (N, D)
    out = torch.matmul(flat, w) + b
    return out, (x, w)


def linear_backward(dout, cache):
    x, w = cache
    dx = torch.matmul(dout, w.t()).reshape(x.shape)
    dw = torch.matmul(helper(x).t(), dout)
    db = dout.sum(dim=0)
    return dx, dw, db
'''

# The same program, disguised by hand: every name renamed, comments and docstrings
# changed, whitespace and grouping parentheses changed, the functions reordered.
DISGUISED = '''import torch

# backward first, why not
def linear_backward(g, saved):
    inp, weights = saved
    grad_in = torch.matmul(g, weights.t()).reshape(inp.shape)   # input gradient
    grad_w = torch.matmul(flatten_it(inp).t(), g)
    grad_b = (g.sum(dim = 0))
    return (grad_in, grad_w, grad_b)

def flatten_it(t):
    # flatten everything but the batch
    return t.reshape(t.shape[0], -1)

def linear_forward(inp, weights, bias):
    f = flatten_it(inp)
    result = (torch.matmul(f, weights)) + bias
    return (result, (inp, weights))
'''

# The same computation written another way (einsum, no helper): an independent solution.
INDEPENDENT = '''import torch


def linear_forward(x, w, b):
    n = x.shape[0]
    out = torch.einsum("nd,dm->nm", x.view(n, -1), w) + b[None, :]
    return out, {"x": x, "w": w}


def linear_backward(dout, cache):
    x, w = cache["x"], cache["w"]
    n = x.shape[0]
    dx = torch.einsum("nm,dm->nd", dout, w).view(*x.shape)
    dw = torch.einsum("nd,nm->dm", x.view(n, -1), dout)
    return dx, dw, dout.sum(0)
'''

STUB = '''"""Affine layer: the handout's words."""
import torch


def linear_forward(x, w, b):
    """Forward pass.

    Args: x (N, D), w (D, M), b (M,)."""
    # Hint: one matmul.
    raise NotImplementedError("linear_forward")


def linear_backward(dout, cache):
    """Backward pass."""
    raise NotImplementedError("linear_backward")
'''


def _symbols(source: str) -> list[str]:
    """The tokens as readable text: placeholders as V/S, every other token's own text."""
    return [t.symbol if t.symbol in ("V", "S") else source[t.start:t.end]
            for t in sim.tokenize(source)]


def _fp(doc_id, source, stub=STUB, **kw):
    return sim.fingerprint(doc_id, source, stub=sim.boilerplate(stub), **kw)


# ---------------------------------------------------------------------------- tokens
def test_bound_names_are_what_the_module_itself_binds():
    names = sim.bound_names("import torch.nn.functional as F\nimport numpy\n"
                            "class C:\n    def m(self, a, *r, k=1, **kw):\n"
                            "        self.w = F.relu(a)\n        for i in range(3): t = i\n"
                            "        return [j for j in r]\n")
    assert names == {"F", "numpy", "C", "m", "self", "a", "r", "k", "kw", "w", "i", "t", "j"}
    # What the code calls but does not bind is not a name a copier can change.
    assert not names & {"relu", "range", "torch"}
    assert sim.bound_names("def f(:\n") is None


def test_renaming_comments_whitespace_and_grouping_parentheses_change_no_token():
    a = "def f(x, y):\n    # sum\n    z = (x * y) + torch.exp(x)\n    return z, x\n"
    b = ("def g(alpha,beta):\n    gamma = alpha*beta + (torch.exp(alpha))   # other\n"
         "\n\n    return (gamma, alpha)\n")
    assert _symbols(a) == _symbols(b)
    assert _symbols(a) == ["def", "V", "(", "V", ",", "V", ")", ":", "V", "=", "V", "*", "V",
                           "+", "torch", ".", "exp", "(", "V", ")", "return", "V", ",", "V"]


def test_library_names_keep_their_text():
    # torch.matmul and torch.einsum are different code, whatever the variables are called;
    # copydetect's own filter would make both `V.V(V, V)`.
    assert _symbols("y = torch.matmul(a, b)\n") != _symbols("y = torch.einsum(a, b)\n")
    assert _symbols("y = x.sum(dim=1)\n") != _symbols("y = x.mean(dim=1)\n")


def test_keyword_arguments_are_placeholders_like_the_parameters_they_pass():
    # `alpha` is a parameter here and a keyword of torch.add: renaming the parameter must
    # not change the keyword's token.
    a = "def f(w, alpha):\n    return torch.add(w, w, alpha=alpha)\n"
    b = "def f(w, q):\n    return torch.add(w, w, alpha=q)\n"
    assert _symbols(a) == _symbols(b)


def test_numbers_by_value_strings_and_docstrings():
    def syms(src):
        return [t.symbol for t in sim.tokenize(src)]

    assert syms("x = 1e-8\n") == syms("x = 0.00000001\n") != syms("x = 1e-7\n")
    assert _symbols('def f():\n    """Doc."""\n    return "a" f"{1}"\n') == \
        ["def", "V", "(", ")", ":", "return", "S", "1", "S"]


def test_call_parentheses_stay():
    assert _symbols("f(x)\n") == ["f", "(", "x", ")"]
    assert _symbols("y = (x)\n") == ["V", "=", "x"]
    assert _symbols("y = g(x)[0](z)\n") == ["V", "=", "g", "(", "x", ")", "[", "0", "]", "(",
                                            "z", ")"]


def test_source_that_does_not_parse_is_still_tokenized_with_every_name_a_placeholder():
    syms = _symbols("def f(x:\n    return torch.exp(x\n")
    assert "exp" not in syms and syms.count("V") == 5


def test_token_spans_point_into_the_source():
    for t in sim.tokenize(ORIGINAL):
        assert ORIGINAL[t.start:t.end].strip() == ORIGINAL[t.start:t.end]
        assert t.end > t.start


# ---------------------------------------------------------------------------- scores
def test_a_disguised_copy_matches_and_an_independent_solution_does_not():
    a, b, c = _fp("a", ORIGINAL), _fp("b", DISGUISED), _fp("c", INDEPENDENT)
    copied = sim.compare(a, b)
    assert copied.score >= 0.9, copied
    independent = sim.compare(a, c)
    assert independent.score <= 0.3, independent
    assert copied.a_lines and copied.b_lines


def test_the_untouched_stub_matches_nothing():
    stub = _fp("stub", STUB)
    assert stub.coverage == 0 and len(stub.hashes) == 0
    for other in (_fp("stub2", STUB), _fp("a", ORIGINAL)):
        p = sim.compare(stub, other)
        assert (p.score, p.matched_tokens, p.a_regions.tolist()) == (0.0, 0, [])


@pytest.mark.parametrize("name", ["pooling", "adam"])
def test_the_real_stub_against_itself_and_the_reference_scores_zero(name):
    stub_text = bench.stub(name)
    ref = bench.solutions(name, ROOT)["reference"]
    docs = [_fp("stub", stub_text, stub=stub_text), _fp("stub2", stub_text, stub=stub_text),
            _fp("reference", ref, stub=stub_text)]
    assert all(p.score == 0.0 for p in sim.compare_all(docs))


def test_stub_text_straddled_by_a_kgram_does_not_count():
    # Two students whose only common code is the stub's signature followed by the same
    # short first line: without the straddle rule every k-gram that starts inside the
    # signature and ends in that line counts as a match.
    stub = "def step(w, dw, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):\n" \
           "    raise NotImplementedError('step')\n"
    one = stub.replace("raise NotImplementedError('step')",
                       "g = dw + w\n    return torch.addcdiv(w, g, g.abs() + eps, value=-lr)")
    two = stub.replace("raise NotImplementedError('step')",
                       "g = dw + w\n    m = g * betas[0]\n    q = m.sqrt().clamp(min=0)\n"
                       "    return w - lr * m / (q + eps)")
    p = sim.compare(_fp("one", one, stub=stub), _fp("two", two, stub=stub))
    assert p.score == 0.0, p


def test_shares_are_per_side_and_the_score_is_the_larger():
    # b is a's code plus as much again of its own: all of a is matched, about half of b.
    extra = INDEPENDENT.replace("linear_", "other_")
    p = sim.compare(_fp("a", ORIGINAL), _fp("b", ORIGINAL + "\n\n" + extra))
    assert p.a_share == pytest.approx(1.0, abs=0.02)
    assert 0.3 < p.b_share < 0.7
    assert p.score == p.a_share


def test_hashes_do_not_depend_on_the_process_hash_seed():
    # copydetect hashes k-grams with Python's salted `hash`: two runs on the same class
    # would keep different fingerprints and report different scores.
    code = ("from grader.classroom import similarity as s\n"
            f"print(s.fingerprint('a', {ORIGINAL!r}).hashes.tolist())\n")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env=dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(ROOT)),
                           check=True, timeout=120).stdout
            for seed in ("1", "2")}
    assert len(outs) == 1


def test_compare_all_agrees_with_compare_and_ranks_most_similar_first():
    docs = [_fp("a", ORIGINAL), _fp("b", DISGUISED), _fp("c", INDEPENDENT), _fp("s", STUB)]
    corpus = [_fp("old", ORIGINAL), _fp("old2", INDEPENDENT)]
    pairs = sim.compare_all(docs, corpus)
    class_pairs = [(p.a, p.b) for p in pairs if p.kind == "class"]
    against = [(p.a, p.b) for p in pairs if p.kind == "against"]
    assert sorted(class_pairs) == [("a", "b"), ("a", "c"), ("a", "s"), ("b", "c"), ("b", "s"),
                                   ("c", "s")]
    assert sorted(against) == sorted((d, o) for d in "abcs" for o in ("old", "old2"))
    assert [p.score for p in pairs] == sorted((p.score for p in pairs), reverse=True)
    by_id = {d.id: d for d in docs + corpus}
    for p in pairs:
        q = sim.compare(by_id[p.a], by_id[p.b], kind=p.kind)
        assert (p.score, p.a_share, p.b_share, p.a_regions.tolist(), p.b_regions.tolist(),
                p.a_lines, p.b_lines) == (q.score, q.a_share, q.b_share, q.a_regions.tolist(),
                                          q.b_regions.tolist(), q.a_lines, q.b_lines)
    assert {pairs[0].a, pairs[0].b} in ({"a", "b"}, {"a", "old"}, {"b", "old"})


def test_variants_copies_are_the_top_pairs():
    """The acceptance check on one assignment, in-process: two disguised copies among the
    reference and its variants are the two top pairs, far above every other pair."""
    name = "convolution"
    stub_text = bench.stub(name)
    sols = bench.solutions(name, ROOT)
    keep = bench.api_names(name, ROOT)
    docs = dict(sols)
    docs["copy1"] = bench.disguise(sols["correct_einsum"], 1, keep)
    docs["copy2"] = bench.disguise(sols["reference"], 2, keep)
    pairs = sim.compare_all([_fp(i, s, stub=stub_text) for i, s in docs.items()])
    top = {frozenset((p.a, p.b)) for p in pairs[:2]}
    assert top == {frozenset(("copy1", "correct_einsum")), frozenset(("copy2", "reference"))}
    assert min(p.score for p in pairs[:2]) >= 0.9
    # Independent correct solutions (the naive variants reuse the reference's functions).
    correct = {s for s in sols if not s.startswith("naive_")}
    others = [p for p in pairs[2:] if {p.a, p.b} <= correct]
    assert max(p.score for p in others) < 0.6


def test_disguise_renames_reorders_and_still_compiles():
    src = bench.solutions("pooling", ROOT)["correct_as_strided"]
    out = bench.disguise(src, 3, bench.api_names("pooling", ROOT))
    compile(out, "disguised", "exec")
    assert "_geometry" not in out and "maxpool2d_forward" in out and out != src


def test_bad_parameters_are_refused():
    with pytest.raises(sim.SimilarityError, match="k must be at least 2"):
        sim.fingerprint("a", ORIGINAL, k=1)


# ---------------------------------------------------------------------------- files
def test_csv_rows_quote_ids_and_list_matching_lines():
    docs = [_fp('al,"ice"\n', ORIGINAL), _fp("=bob", DISGUISED)]
    text = sim.csv_text(sim.compare_all(docs))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == sim.CSV_COLUMNS
    assert (rows[0]["a"], rows[0]["b"], rows[0]["kind"]) == ('al,"ice"\n', "=bob", "class")
    assert float(rows[0]["score"]) >= 0.9
    # The matching lines of the original cover the bodies of its three functions.
    covered = set()
    for part in rows[0]["a_lines"].split(";"):
        lo, _, hi = part.partition("-")
        covered.update(range(int(lo), int(hi or lo) + 1))
    assert {6, 11, 12, 13, 17, 18, 19, 20, 21} <= covered, rows[0]["a_lines"]
    assert 1 not in covered  # the module docstring


def test_html_escapes_what_comes_from_submissions_and_marks_matches():
    evil_id = "<script>alert(1)</script>"
    evil_src = ORIGINAL.replace("# (N, D)", "# </pre><script>x()</script>")
    docs = [_fp(evil_id, evil_src), _fp("b", DISGUISED), _fp("c", INDEPENDENT)]
    corpus = [_fp("last_year", DISGUISED)]
    pairs = sim.compare_all(docs, corpus)
    page = sim.html_report("Affine", pairs, {d.id: d.source for d in docs},
                           {d.id: d.source for d in corpus}, errors={"<b>x": "<i>why"})
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<b>x" not in page and "&lt;i&gt;why" in page
    assert page.count("<mark>") >= 2
    assert "reference corpus" in page and "Pairs within the class: 1 flagged" in page


def test_write_lists_unreadable_submissions_and_writes_both_files(tmp_path):
    subs = [SimpleNamespace(id="a", source=ORIGINAL, error=None),
            SimpleNamespace(id="b", source=DISGUISED, error=None),
            SimpleNamespace(id="broken", source=None, error="broken.zip is not a zip")]
    run = sim.write(tmp_path, "Affine", subs, stub=STUB)
    assert run.errors == {"broken": "broken.zip is not a zip"}
    assert run.compared == 2 and len(run.pairs) == 1
    assert (tmp_path / "similarity.csv").read_text().count("\n") == 2
    page = (tmp_path / "similarity.html").read_text()
    assert 'href="report.html"' in page and "broken.zip is not a zip" in page
    with pytest.raises(sim.SimilarityError, match="threshold"):
        sim.write(tmp_path, "Affine", subs, threshold=0)


def test_the_class_report_links_to_similarity_html_in_the_same_folder():
    from grader.classroom import classreport
    from grader.engine import assignments

    page = classreport.html_report(assignments.load("pooling", ROOT), [])
    assert '<a href="similarity.html">' in page


def test_two_processes_give_the_same_fingerprints_and_pairs_as_one():
    items = [("a", ORIGINAL), ("b", DISGUISED), ("c", INDEPENDENT), ("s", STUB),
             ("broken", "def f(:\n"), ("e", "")]
    stub = sim.boilerplate(STUB)
    one = sim.fingerprint_all(items, stub=stub, jobs=1)
    two = sim.fingerprint_all(items, stub=stub, jobs=2)
    assert [f.id for f in one] == [f.id for f in two] == [i for i, _ in items]
    assert all(f.hashes.tolist() == g.hashes.tolist() for f, g in zip(one, two))

    def rows(pairs):
        return [(p.a, p.b, p.score, p.a_regions.tolist(), p.b_lines, p.kind) for p in pairs]

    corpus = one[:2]
    assert rows(sim.compare_all(one, corpus, jobs=1)) == rows(sim.compare_all(one, corpus,
                                                                                jobs=2))
