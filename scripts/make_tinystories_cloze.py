#!/usr/bin/env python3
"""tinystories-cloze v1: LAMBADA-style items (predict a story's last word from the rest) built from
the tinystories-valid split of TinyStories' validation head. An independent re-implementation of
datasets/tasks_cloze.c (qbench builds the same items at load time); it writes them as lm-eval's
lambada_openai jsonl ({"text": ...}: context = all but the last ' '-separated word, target = ' ' + it).

Construction (deterministic, no model in the loop):
  1. text = the file's bytes [0, cut): cut = the start of the first paragraph ("\\n\\n"-separated)
     beginning "Once upon a time" at or after 75% of the file (qbench's tinystories-valid split).
  2. stories: every paragraph beginning "Once upon a time" opens a story, which runs through the
     following paragraphs up to the next such opening (or the end of the split); trailing
     whitespace removed.
  3. every paragraph end of a story gives a candidate passage: the story from its opening through
     that paragraph (a blank paragraph gives none). The target is the passage's last whitespace-separated token with trailing . ! ? , ; : " '
     removed; it must be ASCII letters only, at least 3 of them, and not a function word (STOP).
     The item text is the passage up to the end of the target.
  4. LAMBADA's filters, made model-free: the target (case-insensitive, as a whole word) occurs in
     the passage before the final sentence (guessable from the broad context), and not in the
     final sentence before it (not guessable from that sentence alone). The final sentence begins
     after the last '.', '!' or '?' (optionally followed by a quote) followed by whitespace.
  5. the item text is at most 1600 bytes.
Usage: make_tinystories_cloze.py assets/tinystories/tinystories_v1_validation_head.txt > items.jsonl
       make_tinystories_cloze.py --digest FILE   prints the item count and the sha256 of the item
                                                 texts joined by NUL bytes (tests/fixtures/tasks/)
"""
import json
import re
import sys

STOP = set("""a an the and or but if so of to in on at by for with from into onto up down out off over under
again then than too very just not no yes all any some each every both more most much many few
i me my mine you your yours he him his she her hers it its we us our they them their theirs
this that these those there here who whom whose what which when where why how
is am are was were be been being do does did have has had can could will would shall should may might must
said says say one ones also only own same such now""".split())
MAX_BYTES = 1600
OPEN = b"Once upon a time"


def split_cut(text):
    i = len(text) // 4 * 3
    while i + len(OPEN) <= len(text):
        if (i == 0 or text[i - 2:i] == b"\n\n") and text[i:i + len(OPEN)] == OPEN:
            return i
        i += 1
    return len(text)


def stories(text):
    paras = text.split(b"\n\n")
    cur = None
    for p in paras:
        if p.startswith(OPEN):
            if cur is not None:
                yield cur
            cur = p
        elif cur is not None:
            cur = cur + b"\n\n" + p
    if cur is not None:
        yield cur


def item(story):
    s = story.rstrip(b" \t\r\n")
    k = max(s.rfind(b" "), s.rfind(b"\n"), s.rfind(b"\t"))
    start = k + 1
    w = s[start:]
    end = len(w)
    while end > 0 and w[end - 1:end] in (b".", b"!", b"?", b",", b";", b":", b'"', b"'"):
        end -= 1
    w = w[:end]
    if len(w) < 3 or not re.fullmatch(rb"[A-Za-z]+", w) or w.lower().decode() in STOP:
        return None
    text = s[:start + end]
    if len(text) > MAX_BYTES:
        return None
    before = s[:start]
    m = None
    for m in re.finditer(rb"[.!?][\"']?\s", before):
        pass
    sent0 = m.end() if m else 0
    pat = re.compile(rb"(?<![A-Za-z])" + re.escape(w.lower()) + rb"(?![A-Za-z])")
    if not pat.search(before[:sent0].lower()) or pat.search(before[sent0:].lower()):
        return None
    return text.decode("utf-8")


def main():
    digest = sys.argv[1] == "--digest"
    data = open(sys.argv[-1], "rb").read()
    text = data[:split_cut(data)]
    out = []
    for s in stories(text):
        paras = s.split(b"\n\n")
        for k in range(1, len(paras) + 1):
            if not paras[k - 1].strip(b" \t\r\n"):
                continue  # a blank paragraph adds nothing: its passage is the previous one
            t = item(b"\n\n".join(paras[:k]))
            if t is not None:
                out.append(t)
    if digest:
        import hashlib
        print(f"count {len(out)}")
        print("sha256 " + hashlib.sha256("\0".join(out).encode("utf-8")).hexdigest())
        return
    for t in out:
        sys.stdout.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
    print(f"tinystories-cloze v1: {len(out)} items", file=sys.stderr)


if __name__ == "__main__":
    main()
