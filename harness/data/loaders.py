"""Parsers for the common evaluation-data layouts; each returns items as plain dicts.

Item shapes (what the scenarios consume, before prompt templates are applied):
- multiple choice: {"query": str, "choices": [str, ...], "gold": int, ...extra fields}
  (extra fields such as question/A/B/C/D/subject stay available to prompt templates);
- exact match: {"query": str, "answers": [str, ...]};
- perplexity: {"text": str} (one item per document);
- partial choice: {"context_options": [str, ...], "continuation": str, "gold": int};
- last word: {"context": str, "target": str}.

Every problem is a one-line DataError naming the file and, for a record, its line number.
Formats (the `data.format` key of a task):
  mc_jsonl          JSONL {query, choices, gold} (llm-foundry's layout: ARC, BoolQ, ...)
  qa_jsonl          JSONL {query, answer} (answer: a string or a list of accepted strings)
  hellaswag_llamacpp llama.cpp's six-line HellaSwag text (see load_hellaswag_llamacpp)
  kobest_copa, kobest_hellaswag, kobest_boolq   KoBEST TSV, prompts as lm-evaluation-harness
  kmmlu_csv         KMMLU CSV with header question,answer(1-4),A,B,C,D,...
  mmlu_csv          classic MMLU CSV without header: question,A,B,C,D,answer letter
  text              plain UTF-8 text for perplexity (see load_text)
  winogrande_jsonl, lambada_jsonl, kobest_sentineg, kobest_wic, haerae_json
                    partial scoring, last word, KoBEST SentiNeg/WiC and HAE-RAE-style
                    multiple choice (layouts.py)
  hf                a Hugging Face `datasets` split with a field mapping (needs network or
                    a local `data_files`; the `datasets` package is imported lazily)
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

from harness.data import layouts
from harness.data.parsing import (int_field, jsonl_records, lines, mc_item, read_text, require,
                                  tsv_rows)
from harness.errors import DataError

LETTERS = "ABCD"


# ------------------------------------------------------------------ JSONL
def load_mc_jsonl(path: Path) -> list[dict]:
    """JSONL, one {query, choices, gold} object per line (blank lines skipped)."""
    items = []
    for n, rec in jsonl_records(path):
        require(path, n, rec, "query", "choices", "gold")
        items.append(mc_item(path, n, rec["query"], rec["choices"], rec["gold"]))
    return items


def load_qa_jsonl(path: Path) -> list[dict]:
    """JSONL, one {query, answer} object per line; answer is a string or a list of them."""
    items = []
    for n, rec in jsonl_records(path):
        require(path, n, rec, "query", "answer")
        answers = rec["answer"] if isinstance(rec["answer"], list) else [rec["answer"]]
        if not isinstance(rec["query"], str) or not answers or not all(
                isinstance(a, str) for a in answers):
            raise DataError(f"line {n}: 'query' and 'answer' must be strings", path=path)
        items.append({"query": rec["query"], "answers": answers})
    return items


# ------------------------------------------------------------------ llama.cpp HellaSwag
def load_hellaswag_llamacpp(path: Path) -> list[dict]:
    """llama.cpp's HellaSwag text: 6 lines per item (context; gold index 0-3; 4 endings).

    The context line is already "activity_label: ctx" preprocessed as lm-evaluation-harness
    does (klosax/hellaswag_text_data); llama.cpp's perplexity tool applies nothing further:
    it scores context + " " + ending. So query = line 1 as is, choices = the 4 endings,
    and the task's templates "{query}" / " {choice}" reproduce the same text. A final empty
    line (file ending in a newline) is ignored; a trailing CR is dropped from every line.
    """
    rows = lines(path)
    if rows and rows[-1] == "":
        rows.pop()
    if len(rows) % 6:
        raise DataError(f"line {len(rows)}: {len(rows)} lines is not a multiple of 6 "
                        f"(6 lines per item)", path=path)
    items = []
    for start in range(0, len(rows), 6):
        gold_line = rows[start + 1].strip()
        try:
            gold = int(gold_line)
        except ValueError:
            raise DataError(f"line {start + 2}: gold index {gold_line!r} is not an integer",
                            path=path) from None
        if not 0 <= gold < 4:
            raise DataError(f"line {start + 2}: gold index {gold} out of range for 4 choices",
                            path=path)
        items.append({"query": rows[start], "choices": rows[start + 2: start + 6],
                      "gold": gold})
    return items


# ------------------------------------------------------------------ KoBEST TSV
def load_kobest_copa(path: Path) -> list[dict]:
    """KoBEST COPA (ID, sentence, question, 1, 2, Answer), as lm-evaluation-harness builds it:
    query = premise + " " + (" 왜냐하면" for 원인 (cause) | " 그래서" for 결과 (effect)) --
    two spaces, exactly as its f-string "{premise} {connector}" yields; choices are the two
    alternatives; gold = Answer - 1 (the TSV's Answer is 1 or 2)."""
    connectors = {"원인": " 왜냐하면", "결과": " 그래서"}
    items = []
    for n, row in tsv_rows(path, ("sentence", "question", "1", "2", "Answer")):
        q = row["question"].strip()
        if q not in connectors:
            raise DataError(f"line {n}: question {q!r} is neither 원인 nor 결과", path=path)
        gold = int_field(path, n, row["Answer"], "Answer") - 1
        items.append(mc_item(path, n, f"{row['sentence']} {connectors[q]}",
                              [row["1"], row["2"]], gold))
    return items


def load_kobest_hellaswag(path: Path) -> list[dict]:
    """KoBEST HellaSwag (context, choice1-4, label 0-3): query = "문장: " + context (as
    lm-evaluation-harness's kobest_hellaswag), choices = the four endings."""
    items = []
    cols = ("context", "choice1", "choice2", "choice3", "choice4", "label")
    for n, row in tsv_rows(path, cols):
        items.append(mc_item(path, n, f"문장: {row['context']}",
                              [row[f"choice{i}"] for i in range(1, 5)],
                              int_field(path, n, row["label"], "label")))
    return items


def load_kobest_boolq(path: Path) -> list[dict]:
    """KoBEST BoolQ (ID, Text, Question, Answer True/False), as lm-evaluation-harness:
    query = "{paragraph} 질문: {question} 답변: " (trailing space kept: the scenario moves
    it into the continuation, as lm-evaluation-harness does), choices ["아니오", "예"],
    gold 1 for True."""
    items = []
    for n, row in tsv_rows(path, ("Text", "Question", "Answer")):
        ans = row["Answer"].strip().lower()
        if ans not in ("true", "false", "1", "0"):
            raise DataError(f"line {n}: Answer {row['Answer']!r} is not True/False", path=path)
        items.append(mc_item(path, n, f"{row['Text']} 질문: {row['Question']} 답변: ",
                              ["아니오", "예"], int(ans in ("true", "1"))))
    return items


# ------------------------------------------------------------------ (K)MMLU CSV
def _letter_item(path: Path, n: int, question: str, options: list[str], gold: int,
                 subject: str) -> dict:
    """An item whose choices are the letters A-D; question, A-D and subject stay available
    to the prompt template (e.g. "{question}\\nA. {A}\\nB. {B}\\nC. {C}\\nD. {D}\\nAnswer:")."""
    return mc_item(path, n, question.strip(), list(LETTERS), gold,
                    question=question.strip(), subject=subject,
                    **dict(zip(LETTERS, options)))


def _csv_rows(path: Path, *, header: bool):
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    try:
        first = next(reader) if header else None
        for row in reader:
            if row:
                yield reader.line_num, first, row
    except csv.Error as e:
        raise DataError(f"line {reader.line_num}: malformed CSV ({e})", path=path) from None
    except StopIteration:
        raise DataError("line 1: empty file, expected a header row", path=path) from None


def load_kmmlu_csv(path: Path, subject: str = "") -> list[dict]:
    """KMMLU CSV (header question,answer,A,B,C,D,...; answer 1-4 = A-D), gold = answer - 1."""
    items = []
    for n, header, row in _csv_rows(path, header=True):
        missing = [c for c in ("question", "answer", *LETTERS) if c not in header]
        if missing:
            raise DataError(f"line 1: header lacks column(s) {', '.join(missing)}", path=path)
        if len(row) != len(header):
            raise DataError(f"line {n}: {len(row)} fields, header has {len(header)}", path=path)
        rec = dict(zip(header, row))
        gold = int_field(path, n, rec["answer"], "answer") - 1
        items.append(_letter_item(path, n, rec["question"], [rec[c] for c in LETTERS], gold,
                                  subject))
    return items


def load_mmlu_csv(path: Path, subject: str = "") -> list[dict]:
    """Classic MMLU CSV (no header): question,A,B,C,D,answer letter A-D."""
    items = []
    for n, _, row in _csv_rows(path, header=False):
        if len(row) != 6:
            raise DataError(f"line {n}: {len(row)} fields, expected 6 "
                            f"(question,A,B,C,D,answer)", path=path)
        letter = row[5].strip().upper()
        if letter not in LETTERS:
            raise DataError(f"line {n}: answer {row[5]!r} out of range (A-D)", path=path)
        items.append(_letter_item(path, n, row[0], row[1:5], LETTERS.index(letter), subject))
    return items


# ------------------------------------------------------------------ plain text
def load_text(path: Path, newline: str = "keep") -> list[dict]:
    """The whole file as one perplexity document, read as UTF-8.

    newline "keep": line endings exactly as in the file (CRLF stays CRLF), which is what
    llama.cpp's perplexity tool sees (it reads the file raw); "lf": CRLF and CR become LF
    (the line ending of the upstream text, e.g. the WikiText-2 release). In both, one final
    "\\n" is dropped, as llama.cpp does when it reads a prompt file (-f).
    """
    text = read_text(path)
    if newline == "lf":
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.endswith("\n"):
        text = text[:-1]
    if not text.strip():
        raise DataError("line 1: the text is empty", path=path)
    return [{"text": text}]


# ------------------------------------------------------------------ Hugging Face datasets
def load_hf(*, dataset: str, split: str, config: str | None = None,
            revision: str | None = None, data_files=None, fields: dict | None = None,
            kind: str = "multiple_choice") -> tuple[list[dict], str | None]:
    """A Hugging Face `datasets` split mapped to item fields; returns (items, fingerprint).

    `fields` maps item fields to dataset columns: for multiple choice query, choices (a
    column holding a list, or a list of columns), gold (an integer column, or a column
    holding a letter A-D or a string equal to one of the choices); for exact match query
    and answer; for perplexity text; "a.b" names a nested field (ARC: choices.text), and
    extra entries (e.g. subject) are copied into the item for templates. The dataset's
    fingerprint is returned for provenance.
    """
    try:
        import datasets
    except ImportError:
        raise DataError("format 'hf' needs the `datasets` package (pip install datasets)",
                        path=dataset) from None
    if hasattr(datasets, "disable_progress_bars"):
        datasets.disable_progress_bars()
    kwargs = {"split": split}
    if revision:
        kwargs["revision"] = revision
    if data_files is not None:
        kwargs["data_files"] = data_files
    try:
        ds = datasets.load_dataset(dataset, config, **kwargs)
    except Exception as e:  # network, missing split, bad files: one line for the user
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"cannot load dataset split {split!r}: {msg}", path=dataset) from None
    where = Path(f"{dataset}[{split}]")
    items = [_hf_item(where, i + 1, dict(rec), dict(fields or {}), kind)
             for i, rec in enumerate(ds)]
    return items, getattr(ds, "_fingerprint", None)


def _field(where: Path, n: int, rec: dict, key):
    """A column by name; "a.b" reaches into a nested mapping; a list of names gives a list."""
    if isinstance(key, list):
        return [_field(where, n, rec, k) for k in key]
    value = rec
    for part in str(key).split("."):
        if not isinstance(value, dict) or part not in value:
            raise DataError(f"record {n}: no field {key!r} (has {', '.join(rec)})", path=where)
        value = value[part]
    return value


def _hf_item(where: Path, n: int, rec: dict, fields: dict, kind: str) -> dict:
    """One dataset record -> item. Multiple choice: `gold` may be an index, an integer
    string, a choice's text, or a label found in the `labels` field (e.g. ARC's answerKey
    against choices.label)."""
    def get(name: str):
        return _field(where, n, rec, fields.get(name, name))

    if kind == "perplexity":
        return {"text": str(get("text"))}
    if kind == "exact_match":
        ans = get("answer")
        return {"query": str(get("query")),
                "answers": [str(a) for a in (ans if isinstance(ans, list) else [ans])]}
    query, choices, gold = str(get("query")), get("choices"), get("gold")
    if not isinstance(choices, list):
        raise DataError(f"record {n}: choices field is a {type(choices).__name__}, not a list",
                        path=where)
    choices = [str(c) for c in choices]
    if "labels" in fields:
        labels = [str(x) for x in get("labels")]
        if str(gold) not in labels:
            raise DataError(f"record {n}: gold {gold!r} is not one of the labels {labels}",
                            path=where)
        gold = labels.index(str(gold))
    elif isinstance(gold, str):
        g = gold.strip()
        if g.lstrip("-").isdigit():
            gold = int(g)
        elif g in choices:
            gold = choices.index(g)
        else:
            raise DataError(f"record {n}: gold {gold!r} is neither an index nor a choice",
                            path=where)
    extra = {k: _field(where, n, rec, v) for k, v in fields.items()
             if k not in ("query", "choices", "gold", "labels")}
    return mc_item(where, n, query, choices, gold, **extra)


# ------------------------------------------------------------------ registry
#: format -> (loader taking the file path and options, the task kind its items serve;
#: None = any kind, decided by the field mapping)
LOADERS: dict[str, tuple[Callable[..., list[dict]] | None, str | None]] = {
    "mc_jsonl": (load_mc_jsonl, "multiple_choice"),
    "qa_jsonl": (load_qa_jsonl, "exact_match"),
    "hellaswag_llamacpp": (load_hellaswag_llamacpp, "multiple_choice"),
    "kobest_copa": (load_kobest_copa, "multiple_choice"),
    "kobest_hellaswag": (load_kobest_hellaswag, "multiple_choice"),
    "kobest_boolq": (load_kobest_boolq, "multiple_choice"),
    "kmmlu_csv": (load_kmmlu_csv, "multiple_choice"),
    "mmlu_csv": (load_mmlu_csv, "multiple_choice"),
    "text": (load_text, "perplexity"),
    "winogrande_jsonl": (layouts.load_winogrande_jsonl, "partial_choice"),
    "lambada_jsonl": (layouts.load_lambada_jsonl, "last_word"),
    "kobest_sentineg": (layouts.load_kobest_sentineg, "multiple_choice"),
    "kobest_wic": (layouts.load_kobest_wic, "multiple_choice"),
    "haerae_json": (layouts.load_haerae_json, "multiple_choice"),
    "hf": (None, None),
}
