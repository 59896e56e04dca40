"""The in-memory search index: search as you type over tens of thousands of persons.

Every searchable word (name, title, unit and its parents, subjects, e-mail, location) is folded
(case and diacritics off) into a sorted word list with a posting set per word; a query token
matches any word it is a prefix of (one ``bisect`` for the range). Phone numbers are indexed as
digits, with every suffix of three digits or more, so "4590" finds +47 22 24 45 90. Persons are
numbered in display order (present before gone, then family and given name), so ranking within a
tier is a sort of small integers.

Tiers (best first):

0. the whole query is the start of the full name ("ola nor" → Ola Nordmann, also "nordmann ola"),
   or equals a phone number;
1. every token is the start of a word of the name;
2. every token is the start of some indexed word (unit, title, subject, …) or part of a number;
3. (only when there are fewer hits than asked for) every token of 3+ letters is inside the name;
4. (still short of hits) the same with old and digraph spellings (``loose``: "aasen" → Åsen,
   "saether" → Sæther, "groettum" → Grøttum), then with typos: a token of 4+ letters within one
   edit (7+ letters: two) of a name word or of the start of one ("hnasen" → Hansen, "petersen" →
   Pettersen), nearer first. Edits are optimal string alignment (a swap of two letters is one):
   RapidFuzz's C implementation scores a token against every name word in well under a millisecond
   at 14,000 persons, which a Python loop does not.

Numbers are indexed by :func:`~.normalize.phone_keys` (as written and international), so any
national or international form of the number finds it.
"""
from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from typing import Any

from rapidfuzz import process
from rapidfuzz.distance import OSA

from .normalize import digits, fold, loose, phone_keys, phone_query, words

_HIGH = "\U0010ffff"
_PHONE = re.compile(r"^[\d\s+()./-]+$")


class _Prefix:
    """Sorted words with posting sets; prefix lookups, with a cache for 1–2 letter prefixes."""

    def __init__(self, postings: dict[str, set[int]]) -> None:
        self.words = sorted(postings)
        self.sets = [postings[w] for w in self.words]  # never changed after the build
        self._cache: dict[str, frozenset[int] | set[int]] = {}

    def lookup(self, prefix: str) -> frozenset[int] | set[int]:
        hit = self._cache.get(prefix)
        if hit is not None:
            return hit
        lo = bisect_left(self.words, prefix)
        hi = bisect_left(self.words, prefix + _HIGH, lo)
        result: frozenset[int] | set[int]
        if hi - lo == 1:
            result = self.sets[lo]
        elif hi == lo:
            result = frozenset()
        else:
            result = frozenset().union(*self.sets[lo:hi])
        if len(prefix) <= 2:
            self._cache[prefix] = result
        return result


class SearchIndex:
    def __init__(self, persons: Iterable[dict[str, Any]] = (), units: Iterable[dict[str, Any]] = (), *,
                 country_code: str = "47") -> None:
        self.country_code = country_code
        self.build(persons, units)

    def build(self, persons: Iterable[dict[str, Any]], units: Iterable[dict[str, Any]]) -> None:
        unit_map = {(u["tenant"], u["id"]): u for u in units}
        self.unit_map = unit_map
        plist = sorted(persons, key=lambda p: (bool(p.get("gone")), fold(p.get("family_name") or _last(p["name"])),
                                               fold(p.get("given_name") or p["name"]), p["tenant"], p["id"]))
        self.persons: list[dict[str, Any]] = plist
        self.keys = [f"{p['tenant']}:{p['id']}" for p in plist]
        self.by_key = {k: i for i, k in enumerate(self.keys)}
        name_post: dict[str, set[int]] = {}
        all_post: dict[str, set[int]] = {}
        full: list[tuple[str, int]] = []
        self.phones: dict[str, set[int]] = {}
        self.tenants: dict[str, set[int]] = {}
        self.haystack: list[str] = []
        self.units_path: list[list[str]] = []
        for i, p in enumerate(plist):
            self.tenants.setdefault(p["tenant"], set()).add(i)
            nw = words(p["name"]) + words(p.get("given_name", "")) + words(p.get("family_name", ""))
            for w in nw:
                name_post.setdefault(w, set()).add(i)
                all_post.setdefault(w, set()).add(i)
            fn = " ".join(words(p["name"]))
            full.append((fn, i))
            if len(nw) > 1:
                full.append((" ".join(nw[-1:] + nw[:-1]), i))  # "nordmann ola"
            path = self.unit_path(p["tenant"], p.get("unit", ""))
            self.units_path.append(path)
            other = [p.get("title", ""), p.get("location", ""), *path, *p.get("subjects", []),
                     (p.get("email") or "").split("@")[0]]
            for text in other:
                for w in words(text):
                    all_post.setdefault(w, set()).add(i)
            for kind in ("desk", "mobile", "switchboard"):
                for d in phone_keys(p.get(kind) or "", self.country_code):
                    if len(d) >= 3:
                        self.phones.setdefault(d, set()).add(i)
                        for k in range(len(d) - 2):
                            all_post.setdefault(d[k:], set()).add(i)
            self.haystack.append(fn)
        self.corpus = "\n".join(self.haystack)
        self.offsets, pos = [], 0
        for h in self.haystack:
            self.offsets.append(pos)
            pos += len(h) + 1
        self._short: dict[tuple[str, str | None, int], list[int]] = {}
        self.name_index = _Prefix(name_post)
        self.all_index = _Prefix(all_post)
        # only the words that a loose spelling changes: the others are found in all_index as they are
        loose_post: dict[str, set[int]] = {}
        for w, ids in all_post.items():
            if not w[0].isdigit() and (lw := loose(w)) != w:
                loose_post.setdefault(lw, set()).update(ids)
        self.loose_index = _Prefix(loose_post)
        self._name_sets = dict(zip(self.name_index.words, self.name_index.sets))
        self._prefixes: dict[int, tuple[list[str], list[set[int]]]] = {}
        full.sort()
        self.full_names = [f for f, _ in full]
        self.full_ids = [i for _, i in full]

    def unit_path(self, tenant: str, unit_id: str) -> list[str]:
        """Unit names from the unit up to the top: ["Building permits", "Planning", "City of X"]."""
        out, seen = [], set()
        while unit_id and unit_id not in seen:
            seen.add(unit_id)
            u = self.unit_map.get((tenant, unit_id))
            if u is None:
                break
            out.append(u["name"])
            unit_id = u.get("parent") or ""
        return out

    def __len__(self) -> int:
        return len(self.persons)

    def search(self, q: str, *, tenant: str | None = None, limit: int = 20) -> list[int]:
        """Person numbers, best first."""
        tokens = words(q)
        if _PHONE.match(q) and digits(q):
            tokens = [phone_query(q)]
        if not tokens or limit <= 0:
            return []
        short = sum(map(len, tokens)) <= 2
        if short:  # the first keystrokes are the broadest queries: their ranking is kept until the next build
            hit = self._short.get((" ".join(tokens), tenant, limit))
            if hit is not None:
                return hit
        ranked = self._search(tokens, tenant, limit)
        if short:
            self._short[(" ".join(tokens), tenant, limit)] = ranked
        return ranked

    def _search(self, tokens: list[str], tenant: str | None, limit: int) -> list[int]:
        allowed = self.tenants.get(tenant, frozenset[int]()) if tenant else None
        per_token = sorted((self.all_index.lookup(t) for t in tokens), key=len)
        matched = set(per_token[0])
        for s in per_token[1:]:
            matched &= s
        if allowed is not None:
            matched &= allowed
        ranked: list[int] = []
        taken: set[int] = set()

        def take(candidates: set[int] | frozenset[int]) -> bool:
            fresh = candidates - taken if taken else candidates
            for i in sorted(fresh)[: limit - len(ranked)]:
                ranked.append(i)
                taken.add(i)
            return len(ranked) >= limit

        # tier 0: full-name prefix, or a whole phone number
        phrase = " ".join(tokens)
        lo = bisect_left(self.full_names, phrase)
        hi = bisect_left(self.full_names, phrase + _HIGH, lo)
        tier0 = set(self.full_ids[lo:hi])
        if len(tokens) == 1 and tokens[0].isdigit():
            tier0 |= self.phones.get(tokens[0], set())
        if allowed is not None:
            tier0 &= allowed
        if take(tier0 & matched if len(tokens) > 1 else tier0):
            return ranked
        # tier 1: every token starts a word of the name
        names = set(matched)
        for t in tokens:
            names &= self.name_index.lookup(t)
            if not names:
                break
        if take(names):
            return ranked
        if take(matched):
            return ranked
        # tier 3: substrings inside names (e.g. "ansen" for Hansen), only when short of hits
        long = sorted((t for t in tokens if len(t) >= 3), key=len, reverse=True)
        if long and len(long) == len(tokens):
            corpus, offsets, hay, first = self.corpus, self.offsets, self.haystack, long[0]
            pos = corpus.find(first)
            while pos >= 0:
                i = bisect_right(offsets, pos) - 1
                if i not in taken and (allowed is None or i in allowed) and all(t in hay[i] for t in long[1:]):
                    ranked.append(i)
                    taken.add(i)
                    if len(ranked) >= limit:
                        break
                pos = corpus.find(first, offsets[i] + len(hay[i]) + 1)
        if len(ranked) < limit and not tokens[0].isdigit():
            self._near(tokens, allowed, limit, ranked, taken)
        return ranked

    # -- tier 4: spellings and typos -------------------------------------------------------------------
    def _prefix_sets(self, n: int) -> tuple[list[str], list[set[int]]]:
        """The distinct n-letter starts of name words, each with its persons (built once per length)."""
        hit = self._prefixes.get(n)
        if hit is None:
            by: dict[str, set[int]] = {}
            for w, ids in self._name_sets.items():
                if len(w) > n:
                    by.setdefault(w[:n], set()).update(ids)
            hit = self._prefixes[n] = (list(by), list(by.values()))
        return hit

    def _typos(self, token: str, max_edits: int) -> list[set[int]]:
        """Persons per edit distance 1..max_edits: a name word, or a name word's start, that near."""
        out: list[set[int]] = [set() for _ in range(max_edits)]
        words_ = self.name_index.words
        for _w, d, j in process.extract(token, words_, scorer=OSA.distance, score_cutoff=max_edits, limit=None):
            if d:
                out[int(d) - 1] |= self.name_index.sets[j]
        starts, sets = self._prefix_sets(len(token))
        for _w, d, j in process.extract(token, starts, scorer=OSA.distance, score_cutoff=max_edits, limit=None):
            if d:
                out[int(d) - 1] |= sets[j]
        return out

    def _near(self, tokens: list[str], allowed: set[int] | frozenset[int] | None, limit: int,
              ranked: list[int], taken: set[int]) -> None:
        """Loose spellings, then one edit, then two: each level adds its matches, in display order."""
        # per token: what it matches at each level (exact+loose, +1 edit, +2 edits); a token that
        # has no other spelling and is too short to guess at matches the same at every level
        levels: list[list[set[int] | frozenset[int]]] = []
        widened = False
        for t in tokens:
            exact = self.all_index.lookup(t)
            lt = loose(t)
            max_edits = 0 if len(t) < 4 or t.isdigit() else (1 if len(t) < 7 else 2)
            if lt == t and not max_edits:
                levels.append([exact, exact, exact])
                continue
            widened = True
            acc: set[int] | frozenset[int] = exact | self.all_index.lookup(lt) | self.loose_index.lookup(lt)
            per = [acc]
            for near in self._typos(t, max_edits) if max_edits else []:
                acc = acc | near
                per.append(acc)
            while len(per) < 3:
                per.append(per[-1])
            levels.append(per)
        if not widened:
            return  # nothing to add to what the exact tiers found
        for level in range(3):
            sets = sorted((per[level] for per in levels), key=len)
            found = set(sets[0])
            for s in sets[1:]:
                found &= s
            if allowed is not None:
                found &= allowed
            for i in sorted(found - taken)[: limit - len(ranked)]:
                ranked.append(i)
                taken.add(i)
            if len(ranked) >= limit:
                return


def _last(name: str) -> str:
    parts = name.split()
    return parts[-1] if parts else ""
