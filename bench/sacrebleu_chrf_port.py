#!/usr/bin/env python3
"""sacrebleu_chrf_port.py — a faithful pure-Python port of sacrebleu 2.x's CHRF (chrF / chrF++),
used by bench/bench_chrf.c as the speed baseline. It is a PORT, not sacrebleu itself (sacrebleu
cannot be installed on this machine): the functions below follow sacrebleu/metrics/helpers.py
(extract_all_char_ngrams, extract_word_ngrams, sum_of_lists) and sacrebleu/metrics/chrf.py
(CHRF._remove_punctuation, _get_match_statistics, _compute_f_score, _extract_reference_info,
_compute_segment_statistics, the corpus_score flow of Metric), with the same Counter-based data
structures and loops, so its speed is representative of sacrebleu's. docs/metrics.md §1
states the algorithm.

usage: sacrebleu_chrf_port.py HYP_FILE REF_FILE [WORD_ORDER]
prints: "segps <wall seg/s> cpu <seg per CPU-second> score <corpus score> n <segments>"
"""
import sys
import time
from collections import Counter
from typing import Dict, List, Optional, Sequence


# ---- sacrebleu/metrics/helpers.py ----------------------------------------------------------------
def extract_all_char_ngrams(line: str, max_order: int, include_whitespace: bool = False) -> List[Counter]:
    counters = []
    if not include_whitespace:
        line = ''.join(line.split())
    for order in range(1, max_order + 1):
        ngrams = Counter([line[i:i + order] for i in range(len(line) - order + 1)])
        counters.append(ngrams)
    return counters


def extract_word_ngrams(tokens: List[str], n: int) -> Counter:
    return Counter([' '.join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)])


def sum_of_lists(lists):
    if len(lists) > 0:
        return [sum(x) for x in zip(*lists)]
    return []


# ---- sacrebleu/metrics/chrf.py -------------------------------------------------------------------
class CHRF:
    # Punctuation characters to handle when chrF++ is enabled (string.punctuation)
    _PUNCTS = set('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~')

    def __init__(self, char_order: int = 6, word_order: int = 0, beta: int = 2, lowercase: bool = False,
                 whitespace: bool = False, eps_smoothing: bool = False):
        self.beta = beta
        self.char_order = char_order
        self.word_order = word_order
        self.order = self.char_order + self.word_order
        self.lowercase = lowercase
        self.whitespace = whitespace
        self.eps_smoothing = eps_smoothing

    def _remove_punctuation(self, sent: str) -> List[str]:
        tokenized = []
        for w in sent.split():
            if len(w) == 1:
                tokenized.append(w)
            else:
                # NOTE: This splits '(hi)' to '(hi' and ')' (issue #124)
                if w[-1] in self._PUNCTS:
                    tokenized += [w[:-1], w[-1]]
                elif w[0] in self._PUNCTS:
                    tokenized += [w[0], w[1:]]
                else:
                    tokenized.append(w)
        return tokenized

    def _preprocess_segment(self, sent: str) -> str:
        return sent.lower() if self.lowercase else sent

    def _compute_f_score(self, statistics: List[int]) -> float:
        eps = 1e-16
        score = 0.0
        effective_order = 0
        factor = self.beta ** 2
        avg_prec, avg_rec = 0.0, 0.0

        for i in range(self.order):
            n_hyp, n_ref, n_match = statistics[3 * i: 3 * i + 3]

            # computes the precision for order n
            prec = n_match / n_hyp if n_hyp > 0 else eps

            # computes the recall for order n
            rec = n_match / n_ref if n_ref > 0 else eps

            denom = factor * prec + rec
            score += ((1 + factor) * prec * rec / denom) if denom > 0 else eps

            # collect statistics for effective order calculation
            if n_hyp > 0 and n_ref > 0:
                avg_prec += prec
                avg_rec += rec
                effective_order += 1

        if self.eps_smoothing:
            return 100 * score / self.order

        if effective_order == 0:
            avg_prec = avg_rec = 0.0
        else:
            avg_prec /= effective_order
            avg_rec /= effective_order

        if avg_prec + avg_rec:
            score = (1 + factor) * avg_prec * avg_rec
            score /= ((factor * avg_prec) + avg_rec)
            return 100 * score
        else:
            return 0.0

    def _compute_score_from_stats(self, stats: List[int]) -> float:
        return self._compute_f_score(stats)

    def _aggregate_and_compute(self, stats: List[List[int]]) -> float:
        return self._compute_score_from_stats(sum_of_lists(stats))

    def _get_match_statistics(self, hyp_ngrams: Counter, ref_ngrams: Counter) -> List[int]:
        match_count, hyp_count = 0, 0
        for ng, count in hyp_ngrams.items():
            hyp_count += count
            if ng in ref_ngrams:
                match_count += min(count, ref_ngrams[ng])

        return [
            # Don't count hits if no reference exists for that n-gram
            hyp_count if ref_ngrams else 0,
            sum(ref_ngrams.values()),
            match_count,
        ]

    def _extract_reference_info(self, refs: Sequence[str]) -> Dict[str, List[List[Counter]]]:
        ngrams = []

        for ref in refs:
            # extract character n-grams
            stats = extract_all_char_ngrams(ref, self.char_order, self.whitespace)

            # Check chrF+ mode
            if self.word_order > 0:
                ref_words = self._remove_punctuation(ref)

                for n in range(self.word_order):
                    stats.append(extract_word_ngrams(ref_words, n + 1))

            ngrams.append(stats)

        return {'ref_ngrams': ngrams}

    def _compute_segment_statistics(self, hypothesis: str, ref_kwargs: Dict) -> List[int]:
        best_stats = []
        best_f_score = -1.0

        # Extract n-grams for the hypothesis
        all_hyp_ngrams = extract_all_char_ngrams(hypothesis, self.char_order, self.whitespace)

        # Check chrF+ mode to see if we'll add word n-grams as well
        if self.word_order > 0:
            # Primitive tokenization: separate out punctuations
            hwords = self._remove_punctuation(hypothesis)
            _range = range(1, self.word_order + 1)
            all_hyp_ngrams.extend([extract_word_ngrams(hwords, n) for n in _range])

        # Iterate over multiple references, pick the one with best F score
        for _ref_ngrams in ref_kwargs['ref_ngrams']:
            stats = []
            # Traverse all orders
            for h, r in zip(all_hyp_ngrams, _ref_ngrams):
                stats.extend(self._get_match_statistics(h, r))
            f_score = self._compute_f_score(stats)

            if f_score > best_f_score:
                best_f_score = f_score
                best_stats = stats

        return best_stats

    # ---- sacrebleu/metrics/base.py: Metric.corpus_score's flow ----------------------------------
    def _cache_references(self, references: Sequence[Sequence[Optional[str]]]) -> List[Dict]:
        ref_cache = []
        for refs in zip(*references):
            # Remove undefined references
            lines = [x for x in refs if x is not None]
            lines = [self._preprocess_segment(x) for x in lines]
            ref_cache.append(self._extract_reference_info(lines))
        return ref_cache

    def corpus_score(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> float:
        ref_cache = self._cache_references(references)
        stats = []
        for hyp, ref_kwargs in zip(hypotheses, ref_cache):
            hyp = self._preprocess_segment(hyp)
            stats.append(self._compute_segment_statistics(hyp, ref_kwargs))
        return self._aggregate_and_compute(stats)


def main() -> None:
    hyp_path, ref_path = sys.argv[1], sys.argv[2]
    word_order = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    # one segment per line; a trailing newline does not start a segment (as qbench's textfile)
    hyps = open(hyp_path, encoding='utf-8', newline='').read().split('\n')
    refs = open(ref_path, encoding='utf-8', newline='').read().split('\n')
    if hyps and hyps[-1] == '':
        hyps.pop()
    if refs and refs[-1] == '':
        refs.pop()
    metric = CHRF(word_order=word_order)
    t, c = time.perf_counter(), time.process_time()
    score = metric.corpus_score(hyps, [refs])
    t, c = time.perf_counter() - t, time.process_time() - c
    n = len(hyps)
    print('segps %f cpu %f score %.10f n %d' % (n / t, n / max(c, 1e-9), score, n))


if __name__ == '__main__':
    main()
