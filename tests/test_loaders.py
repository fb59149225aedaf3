"""Loaders for the common data layouts: tiny local files, then the shared evaluation data."""

import json

import pytest

from conftest import ROOT
from harness.errors import DataError
from harness.data import loaders as L


def put(tmp_path, name, text, newline=None):
    p = tmp_path / name
    with open(p, "w", encoding="utf-8", newline=newline or "") as f:
        f.write(text)
    return p


# ---------------------------------------------------------------- JSONL
def test_mc_jsonl(tmp_path):
    p = put(tmp_path, "a.jsonl", '{"query": "q1", "choices": ["a", "b"], "gold": 1}\n\n'
                                 '{"query": "q2", "choices": ["x", "y", "z"], "gold": 0}\n')
    assert L.load_mc_jsonl(p) == [{"query": "q1", "choices": ["a", "b"], "gold": 1},
                                  {"query": "q2", "choices": ["x", "y", "z"], "gold": 0}]


@pytest.mark.parametrize("line,message", [
    ('{"query": "q", "choices": ["a", "b"]}', "line 2: missing field(s) gold"),
    ('{"query": "q", "choices": ["a", "b"], "gold": 5}', "line 2: gold index 5 out of range"),
    ('{"query": "q", "choices": ["a", "b"], "gold": -1}', "line 2: gold index -1 out of range"),
    ('{"query": "q", "choices": "ab", "gold": 0}', "line 2: 'choices' must be a list"),
    ('{"query": "q", "choices": ["a", "b"], "gold": "1"}', "line 2: 'gold' must be an integer"),
    ('[1, 2]', "line 2: expected a JSON object"),
    ('{"query": ', "line 2: not valid JSON"),
])
def test_mc_jsonl_errors_name_the_line(tmp_path, line, message):
    p = put(tmp_path, "a.jsonl", '{"query": "ok", "choices": ["a", "b"], "gold": 0}\n' + line + "\n")
    with pytest.raises(DataError) as e:
        L.load_mc_jsonl(p)
    assert str(e.value).startswith(f"{p}: {message}")


def test_qa_jsonl_accepts_one_or_several_answers(tmp_path):
    p = put(tmp_path, "q.jsonl", '{"query": "2+2?", "answer": "4"}\n'
                                 '{"query": "capital of China?", "answer": ["Beijing", "Peking"]}\n')
    assert L.load_qa_jsonl(p) == [{"query": "2+2?", "answers": ["4"]},
                                  {"query": "capital of China?", "answers": ["Beijing", "Peking"]}]


def test_not_utf8(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_bytes(b'{"query": "\xff"}\n')
    with pytest.raises(DataError, match="not UTF-8"):
        L.load_mc_jsonl(p)


# ---------------------------------------------------------------- llama.cpp HellaSwag
HS = ("Cooking: A man cracks an egg. he\n2\nsings.\nflies away.\nfries it in a pan.\nsleeps.\n"
      "Sport: A girl holds a ball. she\n0\nthrows it.\neats it.\nfolds it.\npaints it.\n")


def test_hellaswag_llamacpp(tmp_path):
    items = L.load_hellaswag_llamacpp(put(tmp_path, "hs.txt", HS))
    assert items[0] == {"query": "Cooking: A man cracks an egg. he",
                        "choices": ["sings.", "flies away.", "fries it in a pan.", "sleeps."],
                        "gold": 2}
    assert items[1]["gold"] == 0 and len(items) == 2
    # CRLF files give the same items (a trailing CR is dropped from each line)
    assert L.load_hellaswag_llamacpp(put(tmp_path, "crlf.txt", HS.replace("\n", "\r\n"))) == items


def test_hellaswag_errors(tmp_path):
    with pytest.raises(DataError, match="not a multiple of 6"):
        L.load_hellaswag_llamacpp(put(tmp_path, "a.txt", HS + "extra\n"))
    with pytest.raises(DataError, match="line 8: gold index 4 out of range"):
        L.load_hellaswag_llamacpp(put(tmp_path, "b.txt", HS.replace("\n0\n", "\n4\n")))
    with pytest.raises(DataError, match="line 2: gold index 'x' is not an integer"):
        L.load_hellaswag_llamacpp(put(tmp_path, "c.txt", HS.replace("\n2\n", "\nx\n")))


# ---------------------------------------------------------------- KoBEST
def test_kobest_copa(tmp_path):
    p = put(tmp_path, "copa.tsv", "ID\tsentence\tquestion\t1\t2\tAnswer\n"
                                  "1\t비가 왔다.\t결과\t땅이 젖었다.\t해가 떴다.\t1\n"
                                  "2\t배가 아팠다.\t원인\t상한 음식을 먹었다.\t물을 마셨다.\t1\n")
    items = L.load_kobest_copa(p)
    assert items[0] == {"query": "비가 왔다.  그래서", "choices": ["땅이 젖었다.", "해가 떴다."],
                        "gold": 0}
    assert items[1]["query"] == "배가 아팠다.  왜냐하면"


def test_kobest_hellaswag_and_boolq(tmp_path):
    hs = put(tmp_path, "hs.tsv", "context\tchoice1\tchoice2\tchoice3\tchoice4\tlabel\n"
                                 "남자가 문을 연다.\t들어간다.\t날아간다.\t녹는다.\t짖는다.\t0\n")
    assert L.load_kobest_hellaswag(hs) == [{"query": "문장: 남자가 문을 연다.",
                                            "choices": ["들어간다.", "날아간다.", "녹는다.", "짖는다."],
                                            "gold": 0}]
    bq = put(tmp_path, "bq.tsv", "ID\tText\tQuestion\tAnswer\n1\t불은 뜨겁다.\t불은 차갑나요?\tFalse\n"
                                 "2\t얼음은 차갑다.\t얼음은 차갑나요?\tTrue\n")
    items = L.load_kobest_boolq(bq)
    assert items[0] == {"query": "불은 뜨겁다. 질문: 불은 차갑나요? 답변: ", "choices": ["아니오", "예"],
                        "gold": 0}
    assert items[1]["gold"] == 1


def test_kobest_errors(tmp_path):
    with pytest.raises(DataError, match="line 1: header lacks column"):
        L.load_kobest_copa(put(tmp_path, "a.tsv", "ID\tsentence\n1\tx\n"))
    with pytest.raises(DataError, match="line 2: 3 fields, header has 6"):
        L.load_kobest_copa(put(tmp_path, "b.tsv", "ID\tsentence\tquestion\t1\t2\tAnswer\n1\tx\t결과\n"))
    with pytest.raises(DataError, match="line 2: gold index 2 out of range"):
        L.load_kobest_copa(put(tmp_path, "c.tsv",
                               "ID\tsentence\tquestion\t1\t2\tAnswer\n1\tx\t결과\ta\tb\t3\n"))
    with pytest.raises(DataError, match="line 2: Answer 'maybe' is not True/False"):
        L.load_kobest_boolq(put(tmp_path, "d.tsv", "ID\tText\tQuestion\tAnswer\n1\tt\tq\tmaybe\n"))


# ---------------------------------------------------------------- (K)MMLU
def test_kmmlu_csv(tmp_path):
    p = put(tmp_path, "k.csv", 'question,answer,A,B,C,D,Category,Human Accuracy\n'
                               '" 1+1은? ",2,1,2,3,4,Math,0.5\n'
                               '"여러 줄\n질문",4,"가, 나",b,c,d,Math,0.1\n')
    items = L.load_kmmlu_csv(p, subject="math")
    assert items[0] == {"query": "1+1은?", "choices": ["A", "B", "C", "D"], "gold": 1,
                        "question": "1+1은?", "subject": "math",
                        "A": "1", "B": "2", "C": "3", "D": "4"}
    assert items[1]["question"] == "여러 줄\n질문" and items[1]["A"] == "가, 나"
    assert items[1]["gold"] == 3


def test_kmmlu_answer_out_of_range(tmp_path):
    p = put(tmp_path, "k.csv", "question,answer,A,B,C,D\nq,1,a,b,c,d\nq,5,a,b,c,d\n")
    with pytest.raises(DataError, match="line 3: gold index 4 out of range for 4 choices"):
        L.load_kmmlu_csv(p)


def test_mmlu_csv(tmp_path):
    p = put(tmp_path, "m.csv", 'What is 2+2?,3,4,5,6,B\n"Pick, carefully",w,x,y,z,d\n')
    items = L.load_mmlu_csv(p, subject="math")
    assert items[0]["gold"] == 1 and items[0]["B"] == "4" and items[0]["choices"] == list("ABCD")
    assert items[1]["question"] == "Pick, carefully" and items[1]["gold"] == 3
    with pytest.raises(DataError, match="line 1: answer 'E' out of range"):
        L.load_mmlu_csv(put(tmp_path, "e.csv", "q,a,b,c,d,E\n"))
    with pytest.raises(DataError, match="line 1: 3 fields, expected 6"):
        L.load_mmlu_csv(put(tmp_path, "f.csv", "q,a,b\n"))


# ---------------------------------------------------------------- text
def test_text_keep_and_lf(tmp_path):
    p = put(tmp_path, "t.txt", " = Title = \r\n Body line .\r\n")
    # keep: bytes as in the file; only the final "\n" goes (llama.cpp -f), its CR stays
    assert L.load_text(p) == [{"text": " = Title = \r\n Body line .\r"}]
    assert L.load_text(p, newline="lf") == [{"text": " = Title = \n Body line ."}]


def test_text_korean_is_utf8(tmp_path):
    p = put(tmp_path, "ko.txt", "한국어 문장입니다.\n")
    (item,) = L.load_text(p)
    assert item["text"] == "한국어 문장입니다."
    assert len(item["text"]) == 10 and len(item["text"].encode("utf-8")) == 8 * 3 + 2


def test_text_empty(tmp_path):
    with pytest.raises(DataError, match="the text is empty"):
        L.load_text(put(tmp_path, "e.txt", "\n"))


# ---------------------------------------------------------------- Hugging Face datasets
def test_hf_loader_with_local_files(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    pytest.importorskip("datasets")
    rows = [{"question": "Which is a fruit?", "choices": {"text": ["apple", "rock"],
                                                          "label": ["A", "B"]},
             "answerKey": "A", "subject": "food"},
            {"question": "Which is wet?", "choices": {"text": ["sand", "water", "air"],
                                                      "label": ["1", "2", "3"]},
             "answerKey": "2", "subject": "nature"}]
    p = put(tmp_path, "arc.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    fields = {"query": "question", "choices": "choices.text", "labels": "choices.label",
              "gold": "answerKey", "subject": "subject"}
    items, fingerprint = L.load_hf(dataset="json", split="train", data_files=str(p),
                                   fields=fields)
    assert items == [{"query": "Which is a fruit?", "choices": ["apple", "rock"], "gold": 0,
                      "subject": "food"},
                     {"query": "Which is wet?", "choices": ["sand", "water", "air"], "gold": 1,
                      "subject": "nature"}]
    assert fingerprint
    qa = put(tmp_path, "qa.jsonl", '{"q": "2+2?", "a": 4}\n')
    items, _ = L.load_hf(dataset="json", split="train", data_files=str(qa),
                         fields={"query": "q", "answer": "a"}, kind="exact_match")
    assert items == [{"query": "2+2?", "answers": ["4"]}]
    with pytest.raises(DataError, match=r"record 1: no field 'nope'"):
        L.load_hf(dataset="json", split="train", data_files=str(p),
                  fields={**fields, "query": "nope"})
    with pytest.raises(DataError, match=r"record 1: choices field is a dict, not a list"):
        L.load_hf(dataset="json", split="train", data_files=str(p),
                  fields={"query": "question", "gold": "answerKey"})
    with pytest.raises(DataError, match="cannot load dataset split"):
        L.load_hf(dataset="json", split="validation", data_files=str(p))


def test_hf_task_end_to_end(project, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    pytest.importorskip("datasets")
    from harness.data import tasks as T

    data = put(tmp_path, "d.jsonl", '{"ctx": "Sky is", "endings": ["blue", "loud"], "label": "0"}\n')
    (project / "tasks").mkdir(exist_ok=True)
    (project / "tasks" / "hfmc.yaml").write_text(
        "name: hfmc\nversion: 1\nkind: multiple_choice\nlanguage: en\n"
        f"data:\n  format: hf\n  dataset: json\n  split: train\n  data_files: {data}\n"
        "  fields: {query: ctx, choices: endings, gold: label}\n")
    out = T.prepare(T.load_task("hfmc"))
    assert out["items"] == [{"context": "Sky is", "continuations": [" blue", " loud"],
                             "choices": ["blue", "loud"], "gold": 0}]
    assert out["task"]["data_path"] == "hf:json[train]" and out["task"]["data_fingerprint"]


def test_hf_without_datasets_is_a_clear_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(DataError, match=r"needs the `datasets` package"):
        L.load_hf(dataset="x/y", split="test")


# ---------------------------------------------------------------- the shared evaluation data
@pytest.fixture
def evaldata(monkeypatch):
    from harness.data.tasks import evaldata_root

    monkeypatch.setenv("SLLM_BENCH_HOME", str(ROOT))
    root = evaldata_root()
    if not root.is_dir():
        pytest.skip("shared evaluation data absent")
    return root


def test_real_evaldata(evaldata):
    arc = L.load_mc_jsonl(evaldata / "arc_easy" / "llmfoundry_arc_easy.jsonl")
    assert len(arc) == 2376 and arc[0]["query"].startswith("Question: ")
    boolq = L.load_mc_jsonl(evaldata / "boolq" / "llmfoundry_boolq.jsonl")
    assert len(boolq) == 3270 and boolq[0]["choices"] == ["no", "yes"]
    hs = L.load_hellaswag_llamacpp(evaldata / "hellaswag" / "hellaswag_val_full.txt")
    assert len(hs) == 10042 and hs[0]["query"].startswith("Roof shingle removal: ")
    assert sum(it["gold"] == 3 for it in hs[:100]) > 10
    copa = L.load_kobest_copa(evaldata / "kobest" / "COPA" / "test.tsv")
    assert len(copa) == 1000 and {it["gold"] for it in copa} == {0, 1}
    assert copa[0]["query"].endswith(("  그래서", "  왜냐하면"))
    assert len(L.load_kobest_hellaswag(evaldata / "kobest" / "HellaSwag" / "test.tsv")) == 500
    kb = L.load_kobest_boolq(evaldata / "kobest" / "BoolQ" / "test.tsv")
    assert len(kb) == 1404 and {it["gold"] for it in kb} == {0, 1}
    total = 0
    for f in sorted((evaldata / "kmmlu").glob("*-test.csv")):
        items = L.load_kmmlu_csv(f)
        assert all(0 <= it["gold"] < 4 for it in items)
        total += len(items)
    assert total == 35030
    (wiki,) = L.load_text(evaldata / "wikitext2_raw_test" / "wiki.test.raw")
    assert "\r\n" in wiki["text"]
    (wiki_lf,) = L.load_text(evaldata / "wikitext2_raw_test" / "wiki.test.raw", newline="lf")
    assert "\r" not in wiki_lf["text"]
    assert len(wiki["text"]) - len(wiki_lf["text"]) == wiki["text"].count("\r")
