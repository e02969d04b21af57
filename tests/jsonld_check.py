#!/usr/bin/env python3
"""Expands mmprompt documents with a real JSON-LD processor (pyld), offline, and checks
that no property was dropped.

Usage: jsonld_check.py ANNO_CONTEXT_FILE DOC.jsonld...
       jsonld_check.py ANNO_CONTEXT_FILE --same A.jsonld B.jsonld

The W3C Web Annotation context (http://www.w3.org/ns/anno.jsonld) is served from
ANNO_CONTEXT_FILE, as a cache would; any other remote document is refused, so a document
that needs anything else from the network fails. With --same, A and B must expand to the
same data (a document written with its context by reference and inline). "No property dropped" is checked two ways:
  1. every scalar in the compact document (outside @context) reappears in the expansion as
     an @value, @id or @type: their counts must be equal;
  2. every expanded property and type is an absolute IRI (undefined terms would be dropped
     or left relative).
Prints one line per problem and exits 1 if there is any.
"""
import json
import sys

from pyld import jsonld

ANNO_IRI = "http://www.w3.org/ns/anno.jsonld"


def make_loader(context_doc):
    def loader(url, options=None):
        if url == ANNO_IRI:
            return {"contextUrl": None, "documentUrl": url, "document": context_doc}
        raise jsonld.JsonLdError(f"offline: refusing to load {url}", "loading document failed")

    return loader


def count_compact(node, key=None):
    """Scalars a compact document carries, with @json literals counted as one."""
    if key == "@context":
        return 0
    if key == "parameters":  # typed @json: one literal
        return 1
    if isinstance(node, dict):
        return sum(count_compact(v, k) for k, v in node.items())
    if isinstance(node, list):
        return sum(count_compact(v, key) for v in node)
    return 1


def is_abs_iri(s):
    return isinstance(s, str) and (s.startswith("http://") or s.startswith("https://") or s.startswith("urn:"))


def count_expanded(node, problems, path="$"):
    n = 0
    if isinstance(node, list):
        for i, v in enumerate(node):
            n += count_expanded(v, problems, f"{path}[{i}]")
        return n
    if not isinstance(node, dict):
        problems.append(f"{path}: bare scalar in expanded form")
        return 0
    if "@value" in node:
        return 1
    for k, v in node.items():
        if k == "@id":
            n += 1
            if not is_abs_iri(v):
                problems.append(f"{path}: relative @id {v!r}")
        elif k == "@type":
            for t in v:
                n += 1
                if not is_abs_iri(t):
                    problems.append(f"{path}: type {t!r} is not an absolute IRI")
        elif k == "@list":
            n += count_expanded(v, problems, f"{path}.@list")
        elif k.startswith("@"):
            problems.append(f"{path}: unexpected keyword {k}")
        else:
            if not is_abs_iri(k):
                problems.append(f"{path}: property {k!r} is not an absolute IRI")
            n += count_expanded(v, problems, f"{path}.<{k}>")
    return n


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    with open(sys.argv[1]) as f:
        context_doc = json.load(f)
    loader = make_loader(context_doc)
    if sys.argv[2] == "--same":
        a, b = (jsonld.expand(json.load(open(p)), {"documentLoader": loader}) for p in sys.argv[3:5])
        if a != b:
            print(f"{sys.argv[3]} and {sys.argv[4]} expand differently")
            return 1
        print("same expansion")
        return 0
    failures = 0
    for path in sys.argv[2:]:
        with open(path) as f:
            doc = json.load(f)
        problems = []
        try:
            expanded = jsonld.expand(doc, {"documentLoader": loader})
        except Exception as e:  # noqa: BLE001 - report any processor failure as a problem
            problems.append(f"expansion failed: {e}")
            expanded = []
        if expanded:
            want = count_compact(doc)
            got = count_expanded(expanded, problems)
            if want != got:
                problems.append(f"{want} values in the document but {got} after expansion")
        elif not problems:
            problems.append("expansion is empty")
        for p in problems:
            print(f"{path}: {p}")
        failures += bool(problems)
    print(f"{len(sys.argv) - 2 - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
