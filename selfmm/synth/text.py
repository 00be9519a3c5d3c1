"""Transcripts of the synthetic clips: readable sentences whose sentiment phrases follow the perceived text label."""

from __future__ import annotations

import math

import numpy as np

from selfmm.tokenizer import WordPieceTokenizer

_ZH = {
    "subjects": ["这个", "我觉得这件事", "说实话这部剧", "他的表现", "今天的安排", "这个结果", "我们的生活", "这家店",
                 "那个人", "这种感觉"],
    "pos2": ["非常好", "太棒了", "特别让人喜欢", "真的很精彩", "让我超级开心", "好极了", "简直完美"],
    "pos1": ["还不错", "挺好的", "比较让人满意", "有点意思", "还可以", "算是喜欢"],
    "neu": ["一般", "说不上好坏", "普普通通", "没什么感觉", "就那样吧"],
    "neg1": ["不太好", "有点让人失望", "不怎么样", "有些无聊", "不太让人满意"],
    "neg2": ["很差", "太糟糕了", "非常讨厌", "特别让人失望", "烂透了", "真让人生气"],
    "filler": ["我们昨天去了那边", "然后大家一起聊了聊", "这个事情是上周发生的", "他说他明天再来", "我们先看看情况",
               "其实我也不知道", "后来我们就回家了", "你知道吗", "当时人很多", "那个地方离这里不远", "我妈妈也在",
               "就是这样", "反正是这么回事", "我记得是下午三点"],
    "sep": "，", "end": ["。", "！", "。"], "space": "",
}  # fmt: skip
_EN = {
    "subjects": ["the movie was", "honestly the plot was", "i think the acting was", "the ending was",
                 "the whole thing was", "the soundtrack was", "the main character was", "this film is"],
    "pos2": ["absolutely amazing", "really wonderful", "fantastic", "the best thing ever", "truly brilliant"],
    "pos1": ["pretty good", "kind of nice", "fairly enjoyable", "not bad at all", "somewhat fun"],
    "neu": ["okay", "just average", "neither good nor bad", "fine i guess", "nothing special"],
    "neg1": ["a bit disappointing", "not very good", "somewhat boring", "kind of dull", "a little weak"],
    "neg2": ["terrible", "really awful", "a complete waste of time", "absolutely horrible", "the worst"],
    "filler": ["so i went to see it last weekend", "with a couple of friends", "and we talked about it afterwards",
               "you know", "um", "it was playing at the theater downtown", "i heard about it from my sister",
               "there were a lot of people there", "and then we went home", "it is about a family in texas"],
    "sep": ", ", "end": [".", "!", "."], "space": " ",
}  # fmt: skip

# Real CH-SIMS v2 transcripts: 5th pct 7, median 16, 95th pct 31 tokens. The filler target is lognormal(ln 11, 0.6);
# sentiment clauses and whole-clause rounding add the rest (measured: 8 / 17 / 32 tokens at full SIMS size).
_LEN_MEDIAN, _LEN_SIGMA = 11.0, 0.60


def _sentiment_phrases(e: float, rng: np.random.Generator, lex: dict) -> list[str]:
    """Phrases for a perceived text label ``e`` in [-1, 1]: count ~ 3|e|, strong words for |e| >= 0.7."""
    if abs(e) < 0.1:
        return [lex["neu"][rng.integers(len(lex["neu"]))]]
    key = ("pos" if e > 0 else "neg") + ("2" if abs(e) >= 0.7 else "1")
    count = int(np.clip(round(3 * abs(e) + rng.uniform(-0.5, 0.5)), 1, 3))
    words = lex[key]
    return [words[i] for i in rng.choice(len(words), size=min(count, len(words)), replace=False)]


def make_sentence(e: float, rng: np.random.Generator, language: str, tokenizer: WordPieceTokenizer) -> str:
    """A transcript whose sentiment phrases follow ``e`` and whose token length follows the real distribution."""
    lex = _ZH if language == "zh" else _EN
    target = int(np.clip(round(math.exp(math.log(_LEN_MEDIAN) + _LEN_SIGMA * rng.standard_normal())), 4, 60))
    clauses = []
    for i, p in enumerate(_sentiment_phrases(e, rng, lex)):
        # the first sentiment phrase always gets a subject; later ones only sometimes (keeps short clips short)
        subj = (
            lex["subjects"][rng.integers(len(lex["subjects"]))] + lex["space"] if i == 0 or rng.random() < 0.3 else ""
        )
        clauses.append(subj + p)
    n_tok = sum(len(tokenizer.tokenize(c)) + 1 for c in clauses)
    fillers = []
    while n_tok < target - 2:  # add neutral filler clauses until the transcript reaches its target length
        f = lex["filler"][rng.integers(len(lex["filler"]))]
        fillers.append(f)
        n_tok += len(tokenizer.tokenize(f)) + 1
    order = clauses + fillers
    perm = rng.permutation(len(order))
    text = lex["sep"].join(order[i] for i in perm) + lex["end"][rng.integers(3)]
    return text[0].upper() + text[1:] if language == "en" else text
