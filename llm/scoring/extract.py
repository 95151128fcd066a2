"""Pull the final answer out of a completion, and name the rule that found it.

The prompts (:mod:`llm.data.prompts`) ask for a final line ``Answer: <answer>``, but models write their answer
in several conventions: instruction-tuned chat models (``**Answer:** Paris``, ``### Final Answer`` with
the answer below, ``The answer is Paris.``), base models continuing a ``Reasoning:`` prompt
(``... so the answer is 42``), R1-style ``<answer>`` tags, GSM8K-style ``#### 42`` and LaTeX ``\\boxed{}``.
:func:`find_answer` reads them with these rules, in precedence order (:data:`RULES`): the first level that
yields a non-empty answer wins, and within a level the last occurrence that yields one wins.

1. ``answer_tag``: the content of the last ``<answer>...</answer>``; an unclosed last ``<answer>`` runs
   to the end (generation stopped at the closing tag); lines are joined by spaces.
2. ``answer_line`` and ``answer_next_line`` (one level: the last label line that yields an answer wins).
   A *label line* starts with optional markdown (``#`` headings, ``>``, a bullet, ``1.``), optional
   emphasis, ``answer`` after optional words ``the / my / final / short / correct / best``, optional
   emphasis and an optional ``(...)`` note. ``answer_line``: a separator follows (``:``, ``：``, ``=``,
   or a dash with a space on one side) and then the answer on the same line. ``answer_next_line``:
   nothing follows the label (``Final Answer``, ``**Final Answer:**``, ``Answer:``), and the answer is
   the next line that is neither blank nor a bare ``\\[``, ``$$``, ``````` or ``---``, unless that line
   is explanation (below): then the label gives no answer.
3. ``hash``: a line ``#### <answer>`` (GSM8K), unless the text after ``####`` is a label.
4. ``boxed``: the content of the last ``\\boxed{...}`` (or ``\\fbox{...}``) whose braces balance.
5. ``answer_inline``: the last ``Answer:`` (optionally ``the`` / ``final`` before it, bold around it) that
   starts a sentence in the middle of a line (``... = 0.0164. Answer: 1.6%``: base models often write
   their reasoning and answer as one paragraph); the answer is the rest of that sentence.
6. ``answer_is``: the last ``answer is`` / ``answer would be`` (optionally with ``:``) anywhere; the answer
   is the rest of its sentence, or, when nothing follows on the line, the next line as for
   ``answer_next_line``.

So an ``answer:`` in the middle of an explanation (not starting a sentence) is no label at all, and neither
an inline label nor a ``the answer is`` in prose ever beats an answer line. Details:

* **Made-up exercises.** Base models go on with a new exercise of their own after answering. A line
  starting with ``Question:`` that comes after the first line holding an answer (any rule) and before a
  line starting with ``Reasoning:`` starts such an exercise: it and all that follows are dropped.
* **Continuation** (``answer_line``): the answer continues on the next line when its text ends with
  ``,``, ``;``, ``&``, ``+``, ``/``, ``\\``, a dash, an opening bracket, ``and`` or ``or``, or leaves a
  ``(``, ``[`` or ``{`` open; a blank line always ends it.
* **Sentence end** (``answer_line``, ``answer_next_line``, ``answer_inline``, ``answer_is``): the answer
  stops at the first ``.``, ``!`` or ``?`` followed by a space or the end, except after a single letter or
  dotted initials (``U.S.``, ``J. K.``), after a word of :data:`ABBREVIATIONS` (``St.``, ``Dr.``), or
  inside braces. Tags, ``####`` lines and ``\\boxed{}`` are taken whole.
* **Explanation** (what a label with nothing after it must not take): a line starting with a short label
  and a colon (``Explanation:``, ``Step 2:``, ``Note:``; at most 31 characters before the colon), or with
  one of :data:`EXPLANATION_OPENERS` (``Because``, ``To find``, ``Let's``, ...), unless it holds a
  ``\\boxed{}``. A line holding an ``answer is`` sentence gives that sentence's answer.
* **Cleaning** (every rule, in this order): a leading ``answer:`` / ``the answer is`` is dropped; a
  ``\\boxed{...}`` inside the text is unpacked (the last one; nested braces kept:
  ``\\boxed{\\frac{1}{2}}`` gives ``\\frac{1}{2}``); math delimiters ``$...$`` and ``$$...$$`` around the
  whole text and ``\\(``, ``\\)``, ``\\[``, ``\\]`` anywhere are removed; ``\\text{}``, ``\\textbf{}``,
  ``\\textit{}``, ``\\textrm{}``, ``\\mathrm{}``, ``\\mathbf{}``, ``\\emph{}`` and ``\\operatorname{}``
  are unwrapped; ``\\%``, ``\\$``, ``\\&`` and ``{,}`` become ``%``, ``$``, ``&`` and ``,``. Markdown:
  a leading bold span followed by punctuation or nothing is the answer (``**Paris**, the capital`` gives
  ``Paris``); otherwise every ``**`` and ``__`` is removed. A leading ``yes`` or ``no`` followed by
  punctuation is the answer (``Yes, both are.``); otherwise a trailing ``(...)`` note after a space is
  dropped (``1,200 (in millions)``). Finally emphasis marks, backticks, matching quotes and one trailing
  full stop (not ``..``) are peeled from the outside in, and spaces are collapsed.

Without any of these the completion has no answer (``None``), which scores 0: the format is part of what
the reward teaches. ``docs/scoring.md`` has a table of realistic completions and what each gives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

RULES = ("answer_tag", "answer_line", "answer_next_line", "hash", "boxed", "answer_inline", "answer_is")
"""The extraction rules, in precedence order."""

ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "st", "jr", "sr", "mt", "ft", "vs", "co", "inc", "ltd",
                           "corp", "gen", "gov", "sen", "rep", "prof", "rev", "hon", "approx"})
"""Words whose trailing full stop does not end the answer's sentence (``St. Louis``)."""

EXPLANATION_OPENERS = ("because", "since", "explanation", "reasoning", "rationale", "justification",
                       "note that", "step", "to find", "to answer", "to determine", "to calculate", "to solve", "let's",
                       "let me", "let us", "we need", "we can", "we have", "we know", "first,", "here is",
                       "here's", "this is because", "the question", "based on", "according to", "in order to")
"""Line openers that mark explanation rather than an answer (matched as whole words, any case)."""

_DECOR = r"[ \t]*(?:(?:#{1,6}|>)[ \t]*|(?:[-*+•]|\d+[.)])[ \t]+)*+"  # possessive: no backtracking
_EMPHASIS = r"(?:\*\*|__|\*|_)?"
_LABEL = (rf"{_EMPHASIS}[ \t]*(?:(?:the|my|final|short|correct|best)[ \t]+)*answer[ \t]*{_EMPHASIS}"
          r"(?:[ \t]*\([^()\n]*\))?")  # an optional note: "Answer (in millions):"
_SEPARATOR = r"(?:[ \t]*[:：=]|[ \t]+[-–—]|[-–—](?=[ \t]))"
_ANSWER_LINE = re.compile(rf"^{_DECOR}{_LABEL}(?:{_SEPARATOR}{_EMPHASIS}(?P<rest>.*)|[ \t]*$)",
                          re.IGNORECASE | re.MULTILINE)
_HASH_LINE = re.compile(r"^[ \t]*####(?!#)[ \t]*(?P<rest>\S.*)$", re.MULTILINE)
_TAG = re.compile(r"<answer>(.*?)(?:</answer>|\Z)", re.IGNORECASE | re.DOTALL)
_BOXED = re.compile(r"\\(?:boxed|fbox)[ \t]*(?=\{)")
_INLINE_LABEL = re.compile(r"(?<=[.!?])[ \t]+(?:\*\*)?(?:the[ \t]+)?(?:final[ \t]+)?answer[ \t]*(?:\*\*)?"
                           r"[ \t]*[:：](?:\*\*)?", re.IGNORECASE)
_ANSWER_IS = re.compile(r"\banswer[ \t]+(?:is|would[ \t]+be)\b[ \t]*[:：]?", re.IGNORECASE)
_INNER_PREFIX = re.compile(  # "Answer: Paris" inside a tag, "The answer is Paris" on an answer line
    rf"^(?:(?:the[ \t]+)?(?:final[ \t]+)?answer[ \t]+is\b[ \t]*[:：]?|{_LABEL}{_SEPARATOR})[ \t]*", re.IGNORECASE)
_NEW_QUESTION = re.compile(r"^[ \t]*(?:\*\*)?question[ \t]*(?:\*\*)?[ \t]*[:：]", re.IGNORECASE | re.MULTILINE)
_REASONING = re.compile(r"^[ \t]*(?:\*\*)?reasoning[ \t]*(?:\*\*)?[ \t]*[:：]", re.IGNORECASE | re.MULTILINE)
_EXPLANATION = re.compile(
    r"^\W*(?:[a-z][\w'’ ]{0,30}?[ \t]*:(?:[ \t]|$)"  # a label: "Explanation:", "Step 2:"
    r"|(?:" + "|".join(re.escape(w) for w in EXPLANATION_OPENERS) + r")(?!\w))",
    re.IGNORECASE)
_CONTINUES = re.compile(r"(?:[,;&+/\\(\[{\-–—]|\b(?:and|or))[ \t]*$", re.IGNORECASE)
_INITIALS = re.compile(r"(?:[^\W\d_]\.)*[^\W\d_]")  # "U.S", "D.C", "J", "B": letters, dotted
_SENTENCE_END = re.compile(r"(\S*?)[.!?](?=\s|$)")  # group 1: the word before the stop
_COMMAND = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|emph|operatorname)[ \t]*(?=\{)")
_LEADING_BOLD = re.compile(r"^(\*\*|__)(?P<span>(?:(?!\1).)+)\1(?=[ \t]*(?:[,;:.(\-–—]|$))")
_BLOCK_OPENERS = ("", "\\[", "$$", "```", "---")  # lines skipped on the way to the line after a label
_YES_NO_FIRST = re.compile(r"^(yes|no)\b[ \t]*[,;:!.—–-]", re.IGNORECASE)  # "Yes, both are American."
_TRAILING_NOTE = re.compile(r"(?<=\S)[ \t]+\([^()]*\)$")  # "1,200 (in millions)"
_QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’"}


@dataclass(frozen=True)
class Extraction:
    """The answer found in a completion (None: no answer) and the rule of :data:`RULES` that found it."""

    answer: str | None
    rule: str | None


def find_answer(completion: str) -> Extraction:
    """Apply the rules of the module docstring to ``completion``."""
    text = _drop_new_exercise(completion)
    for reader in (_tags, _label_lines, _hash_lines, _boxed, _inline_labels, _answer_is):
        found = next((item for item in reader(text) if item.answer), None)
        if found is not None:
            return found
    return Extraction(None, None)


def extract_answer(completion: str) -> str | None:
    """The final answer written in ``completion``, or None when it has none (module docstring)."""
    return find_answer(completion).answer


# Each reader yields its candidates from the last occurrence to the first, computing each only when asked.

def _tags(text: str) -> Iterator[Extraction]:
    for match in reversed(list(_TAG.finditer(text))):
        yield Extraction(_clean(" ".join(match.group(1).split())), "answer_tag")


def _label_lines(text: str) -> Iterator[Extraction]:
    for match in reversed(list(_ANSWER_LINE.finditer(text))):
        rest = (match.group("rest") or "").strip()
        if rest.strip("*_ \t"):
            yield Extraction(_clean(_first_sentence(_continued(rest, text, match.end()))), "answer_line")
        else:
            yield Extraction(_next_line_answer(text, match.end()), "answer_next_line")


def _hash_lines(text: str) -> Iterator[Extraction]:
    for match in reversed(list(_HASH_LINE.finditer(text))):
        if not _ANSWER_LINE.match(match.group("rest")):
            yield Extraction(_clean(match.group("rest")), "hash")


def _boxed(text: str) -> Iterator[Extraction]:
    for content in reversed(_boxed_contents(text)):
        yield Extraction(_clean(content), "boxed")


def _inline_labels(text: str) -> Iterator[Extraction]:
    for match in reversed(list(_INLINE_LABEL.finditer(text))):
        yield Extraction(_clean(_first_sentence(_rest_of_line(text, match.end()))), "answer_inline")


def _answer_is(text: str) -> Iterator[Extraction]:
    for match in reversed(list(_ANSWER_IS.finditer(text))):
        rest = _rest_of_line(text, match.end())
        answer = _clean(_first_sentence(rest)) if rest.strip() else _next_line_answer(text, match.end())
        yield Extraction(answer, "answer_is")


def _rest_of_line(text: str, position: int) -> str:
    line_end = text.find("\n", position)
    return text[position:line_end if line_end >= 0 else len(text)]


def _drop_new_exercise(text: str) -> str:
    """``text`` without a made-up exercise: cut at a ``Question:`` line that comes after the first line
    holding an answer (any rule) and before a ``Reasoning:`` line."""
    patterns = (_TAG, _ANSWER_LINE, _HASH_LINE, _BOXED, _INLINE_LABEL, _ANSWER_IS)
    starts = [m.start() for pattern in patterns if (m := pattern.search(text))]
    line_end = text.find("\n", min(starts)) if starts else -1
    for question in _NEW_QUESTION.finditer(text, line_end + 1) if line_end >= 0 else ():
        if _REASONING.search(text, question.end()):
            return text[:question.start()]
    return text


def _lines_after(text: str, position: int) -> Iterator[str]:
    """The lines that follow the line holding ``position``, one at a time."""
    start = text.find("\n", position)
    while start >= 0:
        end = text.find("\n", start + 1)
        yield text[start + 1:end if end >= 0 else len(text)]
        start = end


def _continued(rest: str, text: str, end: int) -> str:
    """``rest`` joined with the following lines while it visibly continues (module docstring)."""
    parts, balance = [rest], _bracket_balance(rest)
    for line in _lines_after(text, end):
        if not line.strip() or not (_CONTINUES.search(parts[-1]) or any(b > 0 for b in balance)):
            break
        parts.append(line.strip())
        balance = [b + c for b, c in zip(balance, _bracket_balance(line))]
    return " ".join(parts)


def _bracket_balance(text: str) -> list[int]:
    return [text.count(opening) - text.count(closing) for opening, closing in ("()", "[]", "{}")]


def _next_line_answer(text: str, end: int) -> str | None:
    """The answer on the first line after the line holding position ``end`` that is not blank or a bare
    block opener, unless that line is explanation; an ``answer is`` sentence on it gives its own answer."""
    line = next((ln.strip() for ln in _lines_after(text, end) if ln.strip() not in _BLOCK_OPENERS), "")
    sentence = _ANSWER_IS.search(line)
    if sentence and line[sentence.end():].strip():
        return _clean(_first_sentence(line[sentence.end():]))
    if _EXPLANATION.match(line) and not _BOXED.search(line):
        return None
    return _clean(_first_sentence(line))


def _brace_pairs(text: str) -> dict[int, int]:
    """The index of the matching ``}`` for every ``{`` that is closed; a backslash escapes the next character."""
    pairs: dict[int, int] = {}
    opened: list[int] = []
    escaped = False
    for i, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "{":
            opened.append(i)
        elif char == "}" and opened:
            pairs[opened.pop()] = i
    return pairs


def _boxed_contents(text: str) -> list[str]:
    """The contents of the balanced ``\\boxed{...}`` / ``\\fbox{...}`` in ``text``, in order."""
    pairs = _brace_pairs(text) if "\\" in text else {}
    return [text[m.end() + 1:pairs[m.end()]] for m in _BOXED.finditer(text) if m.end() in pairs]


def _first_sentence(text: str) -> str:
    """``text`` up to its first sentence end (module docstring), outside braces."""
    for match in _SENTENCE_END.finditer(text):
        word = match.group(1).strip("*_(\"'").lower()
        if _INITIALS.fullmatch(word) or word in ABBREVIATIONS:
            continue
        if text.count("{", 0, match.start()) > text.count("}", 0, match.start()):
            continue
        return text[:match.end(1)]
    return text


def _clean(text: str) -> str:
    """The cleaning steps of the module docstring."""
    text = _INNER_PREFIX.sub("", text.strip(), count=1)
    boxes = _boxed_contents(text)
    text = _unlatex(boxes[-1] if boxes else text)
    bold = _LEADING_BOLD.match(text)
    text = bold.group("span") if bold else text.replace("**", "").replace("__", "")
    yes_no = _YES_NO_FIRST.match(text)
    text = yes_no.group(1) if yes_no else _TRAILING_NOTE.sub("", text.strip())
    previous = None
    while text != previous:  # peel "*42*.", "'Paris'." and the like from the outside in
        previous = text
        text = text.strip().strip("*_`").strip()
        if text.endswith(".") and not text.endswith(".."):
            text = text[:-1]
        if len(text) >= 2 and _QUOTES.get(text[0]) == text[-1]:
            text = text[1:-1]
    return " ".join(text.split())


def _unlatex(text: str) -> str:
    """Math delimiters removed, text commands unwrapped, escaped symbols unescaped (module docstring)."""
    text = text.strip()
    for delimiter in ("$$", "$"):
        if len(text) > 2 * len(delimiter) and text.startswith(delimiter) and text.endswith(delimiter):
            text = text[len(delimiter):-len(delimiter)]
    for token in ("\\(", "\\)", "\\[", "\\]"):
        text = text.replace(token, " ")
    commands = list(_COMMAND.finditer(text))
    if commands:
        pairs = _brace_pairs(text)
        dropped = set()  # each command name, its "{" and its "}"
        for command in commands:
            if command.end() in pairs:
                dropped.update(range(command.start(), command.end() + 1))
                dropped.add(pairs[command.end()])
        text = "".join(char for i, char in enumerate(text) if i not in dropped)
    return text.replace("\\%", "%").replace("\\$", "$").replace("\\&", "&").replace("{,}", ",")
