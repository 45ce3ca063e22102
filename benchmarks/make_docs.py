"""Copy the latest benchmark tables into docs/benchmarks.md.

``docs/benchmarks.md`` has a hand-written summary; everything between the markers
``<!-- results:begin -->`` and ``<!-- results:end -->`` is replaced by the
contents of ``benchmarks/results/{speed,graph,fidelity,utility}.md`` (headings
demoted one level, image links made relative to ``docs/``).

    python benchmarks/make_docs.py
"""

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
DOC = REPO / "docs" / "benchmarks.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
ORDER = [
    "speed",
    "speed_2threads",
    "speed_text_path",
    "speed_text_path_400k",
    "decode",
    "fit400k",
    "coverage",
    "graph",
    "density",
    "fidelity",
    "fidelity_300d",
    "utility",
    "utility_density",
]


#: Headings that would repeat another section's (several scripts share a title).
TITLES = {
    "speed_text_path": "Text path before and after, 20k words (--text-path)",
    "speed_text_path_400k": "Text path before and after, 400k words",
    "decode": "Exact decoding on one and two threads (bench_decode.py)",
}


def section(name):
    path = RESULTS / f"{name}.md"
    if not path.exists():
        return None
    text = path.read_text()
    if name in TITLES:
        text = re.sub(r"\A# .*$", "# " + TITLES[name], text, count=1, flags=re.M)
    text = re.sub(r"^(#+) ", lambda m: "#" + m.group(1) + " ", text, flags=re.M)
    text = re.sub(
        r"!\[([^\]]*)\]\(([^)/]+\.png)\)", r"![\1](../benchmarks/results/\2)", text
    )
    return text.strip()


def main():
    parts = [s for s in (section(n) for n in ORDER) if s]
    if not parts:
        sys.exit(f"no results in {RESULTS}")
    block = BEGIN + "\n\n" + "\n\n".join(parts) + "\n\n" + END
    doc = DOC.read_text() if DOC.exists() else "# Benchmarks\n\n"
    if BEGIN in doc and END in doc:
        doc = doc[: doc.index(BEGIN)] + block + doc[doc.index(END) + len(END) :]
    else:
        doc = doc.rstrip() + "\n\n## Full results\n\n" + block + "\n"
    DOC.write_text(doc)
    print(f"updated {DOC}")


if __name__ == "__main__":
    main()
