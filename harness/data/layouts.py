"""Loaders for the task shapes added with issue 16, each returning plain item dicts.

  winogrande_jsonl  llm-foundry's schema layout, one {context_options, continuation, gold}
                    object a line: partial scoring (WinoGrande), items
                    {"context_options": [...], "continuation": str, "gold": int}
  lambada_jsonl     one {"text": passage} object a line (EleutherAI/lambada_openai's
                    layout): last-word prediction, items {"context", "target"} split as
                    lm-evaluation-harness's lambada_openai (context = every word but the
                    last, joined by " "; target = " " + the last word; words split on " ")
  kobest_sentineg   KoBEST SentiNeg TSV (columns Text, Label 0/1; the test file's extra
                    Label_origin/Text_origin/Category_neg are ignored), prompts as
                    lm-evaluation-harness's kobest_sentineg
  kobest_wic        KoBEST WiC TSV (Target, SENTENCE1, SENTENCE2, ANSWER True/False),
                    prompts as lm-evaluation-harness's kobest_wic; the sentences are kept
                    as the TSV has them (the target word in [brackets])
  haerae_json       HAE-RAE-style multiple choice: a JSON array or JSONL of {query,
                    answer} objects, the options written inside the query and the answer
                    one of "(A)".."(E)" (or the bare letter); choices are ["(A)", ...,
                    "(E)"] as lm-evaluation-harness's haerae tasks, or the record's own
                    "choices" list when it has one

Every problem is a one-line DataError naming the file and the record's line.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.data.parsing import (int_field, jsonl_records, mc_item, read_text, require,
                                  tsv_rows)
from harness.errors import DataError

HAERAE_CHOICES = ["(A)", "(B)", "(C)", "(D)", "(E)"]


def _str_field(path: Path, n: int, rec: dict, key: str) -> str:
    value = rec[key]
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"line {n}: '{key}' must be a non-empty string", path=path)
    return value


# ------------------------------------------------------------------ partial scoring
def load_winogrande_jsonl(path: Path) -> list[dict]:
    """JSONL {context_options: [2+ strings], continuation: str, gold: index} a line."""
    items = []
    for n, rec in jsonl_records(path):
        require(path, n, rec, "context_options", "continuation", "gold")
        options, gold = rec["context_options"], rec["gold"]
        if (not isinstance(options, list) or len(options) < 2
                or not all(isinstance(o, str) and o for o in options)):
            raise DataError(f"line {n}: 'context_options' must be a list of at least 2 "
                            f"non-empty strings", path=path)
        cont = _str_field(path, n, rec, "continuation")
        if isinstance(gold, bool) or not isinstance(gold, int):
            raise DataError(f"line {n}: 'gold' must be an integer, got {gold!r}", path=path)
        if not 0 <= gold < len(options):
            raise DataError(f"line {n}: gold index {gold} out of range for {len(options)} "
                            f"context options", path=path)
        items.append({"context_options": list(options), "continuation": cont, "gold": gold})
    return items


# ------------------------------------------------------------------ last word
def load_lambada_jsonl(path: Path) -> list[dict]:
    """JSONL {text} a line -> {"context", "target", "text"} (see the module docstring)."""
    items = []
    for n, rec in jsonl_records(path):
        require(path, n, rec, "text")
        text = _str_field(path, n, rec, "text")
        words = text.split(" ")
        if len(words) < 2 or not words[-1]:
            raise DataError(f"line {n}: the text needs at least two words and must not end "
                            f"in a space", path=path)
        items.append({"context": " ".join(words[:-1]), "target": " " + words[-1],
                      "text": text})
    return items


# ------------------------------------------------------------------ KoBEST
def load_kobest_sentineg(path: Path) -> list[dict]:
    """KoBEST SentiNeg: query "문장: {Text} 긍부정:", choices ["부정", "긍정"], gold = Label."""
    items = []
    for n, row in tsv_rows(path, ("Text", "Label")):
        gold = int_field(path, n, row["Label"], "Label")
        items.append(mc_item(path, n, f"문장: {row['Text']} 긍부정:", ["부정", "긍정"], gold))
    return items


def load_kobest_wic(path: Path) -> list[dict]:
    """KoBEST WiC: query "문장1: {SENTENCE1} 문장2: {SENTENCE2} 두 문장에서 {Target}가 같은
    뜻으로 쓰였나?", choices ["아니오", "예"], gold 1 for ANSWER True."""
    items = []
    for n, row in tsv_rows(path, ("Target", "SENTENCE1", "SENTENCE2", "ANSWER")):
        ans = row["ANSWER"].strip().lower()
        if ans not in ("true", "false"):
            raise DataError(f"line {n}: ANSWER {row['ANSWER']!r} is not True/False", path=path)
        query = (f"문장1: {row['SENTENCE1']} 문장2: {row['SENTENCE2']} 두 문장에서 "
                 f"{row['Target']}가 같은 뜻으로 쓰였나?")
        items.append(mc_item(path, n, query, ["아니오", "예"], int(ans == "true")))
    return items


# ------------------------------------------------------------------ HAE-RAE
def _json_array_records(path: Path):
    """(index, object) of a JSON array file; the 'line' of a record is its 1-based index."""
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise DataError(f"line {e.lineno}: not valid JSON ({e.msg})", path=path) from None
    if not isinstance(data, list):
        raise DataError("line 1: expected a JSON array of objects", path=path)
    for i, rec in enumerate(data, 1):
        if not isinstance(rec, dict):
            raise DataError(f"record {i}: expected a JSON object", path=path)
        yield i, rec


def _haerae_gold(path: Path, n: int, answer, choices: list[str]) -> int:
    if isinstance(answer, str):
        a = answer.strip()
        if a in choices:
            return choices.index(a)
        letter = a.strip("()").upper()
        if len(letter) == 1 and f"({letter})" in choices:
            return choices.index(f"({letter})")
    raise DataError(f"line {n}: answer {answer!r} is not one of {', '.join(choices)}",
                    path=path)


def load_haerae_json(path: Path) -> list[dict]:
    """HAE-RAE-style multiple choice (see the module docstring)."""
    text = read_text(path)
    records = (_json_array_records(path) if text.lstrip().startswith("[")
               else jsonl_records(path))
    items = []
    for n, rec in records:
        require(path, n, rec, "query", "answer")
        query = _str_field(path, n, rec, "query")
        choices = rec.get("choices", HAERAE_CHOICES)
        if (not isinstance(choices, list) or len(choices) < 2
                or not all(isinstance(c, str) for c in choices)):
            raise DataError(f"line {n}: 'choices' must be a list of at least 2 strings",
                            path=path)
        items.append(mc_item(path, n, query, list(choices),
                             _haerae_gold(path, n, rec["answer"], list(choices))))
    return items
